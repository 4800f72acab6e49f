"""The three scripts end to end, as a user runs them (subprocesses, synthetic data; two tests call
a script's main in this process, with config's constants set small)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, small_config, without_settings


def run(script, *args, env, check=True):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_train_all_digits_then_generate_and_classify(script_env, tmp_path):
    models = str(tmp_path / "models")
    out = run("train_mnist.py", "--all_digits=True", "--num_images=8", "--epochs=1",
              f"--models_dir={models}", env=script_env)
    assert sorted(os.listdir(models)) == sorted([f"model_{d}.keras" for d in range(10)]
                                                + [f"model_{d}_curve.png" for d in range(10)])
    assert out.stderr.count("settings:") == 1 and "settings:" not in out.stdout and out.stdout.count("-> ") == 10
    png = str(tmp_path / "two.png")
    gen = run("generate_mnist.py", "--digit=2", f"--models_dir={models}", f"--output={png}", env=script_env)
    assert png in gen.stdout
    image = Image.open(png)
    assert image.size == (160, 160) and image.mode == "L"
    cls = run("classification.py", "--num_images=20", f"--models_dir={models}",
              f"--confusion_output={tmp_path / 'cm.png'}", env=script_env)
    assert cls.stdout.splitlines()[0].startswith("Classification accuracy on a test set: 0.")
    assert os.path.exists(tmp_path / "cm.png")


def test_train_one_digit_with_all_digits_false(tmp_path, monkeypatch, fake_mnist_npz, capsys):
    """The flags that pick what to train, through the script's main in this process, with
    config.py's constants set as a user editing them would (a GRU(8) on 6x6 images, whose
    graph builds in a fraction of the default's time; the flags are the same)."""
    import train_mnist
    import util
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    small_config(monkeypatch)
    models = str(tmp_path / "m")
    train_mnist.main(["--digit=3", "--all_digits=False", "--num_images=1000", "--epochs=1",
                      f"--models_dir={models}", "--quiet"])
    assert sorted(os.listdir(models)) == ["model_3.keras", "model_3_curve.png"]
    assert "digit 3: only 12 training images, using them all" in capsys.readouterr().out
    train_mnist.main(["--all_digits=1", "--skip_existing=True", "--num_images=5", "--epochs=1",
                      f"--models_dir={models}", "--quiet"])
    out = capsys.readouterr().out
    assert "digit 3: " in out and "exists, skipped" in out
    assert len([f for f in os.listdir(models) if f.endswith(".keras")]) == 10
    assert util.read_meta(util.model_path(models, 5))["settings"]["gru_units"] == 8


def test_generate_is_deterministic_with_seed_and_draws_all_digits(script_env, tiny_models, tmp_path):
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for path, seed in zip(paths, (1, 1, 2)):
        run("generate_mnist.py", "--digit=4", f"--seed={seed}", f"--models_dir={tiny_models}",
            f"--output={path}", env=script_env)
    blobs = [open(p, "rb").read() for p in paths]
    assert blobs[0] == blobs[1] and blobs[0] != blobs[2]
    everything = str(tmp_path / "all.png")
    run("generate_mnist.py", "--digit=all", "--grid_size=3", "--output_size=20",
        f"--models_dir={tiny_models}", f"--output={everything}", "--temperature=0.5", env=script_env)
    assert Image.open(everything).size == (60, 200)


def test_classification_json(script_env, tiny_models, tmp_path):
    out = run("classification.py", "--num_images=100000", "--json", "--nll", f"--models_dir={tiny_models}",
              "--confusion_output=none", env=script_env)
    res = json.loads(out.stdout)
    assert res["num_images"] == 60                               # all the synthetic test images
    assert "60 images" in out.stderr
    cm = np.array(res["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 60
    assert res["accuracy"] == pytest.approx(np.trace(cm) / 60)
    assert set(res["per_digit_accuracy"]) == {str(d) for d in range(10)}
    nll = np.array(res["nll_bits_per_pixel"])
    assert nll.shape == (10, 10) and (nll > 0).all()


BAD_FLAGS = [
    ("train_mnist.py", "--digit=10", "--digit"),
    ("train_mnist.py", "--digit=x", "--digit"),
    ("train_mnist.py", "--num_images=0", "--num_images"),
    ("train_mnist.py", "--epochs=-1", "--epochs"),
    ("train_mnist.py", "--epochs=many", "--epochs"),
    ("train_mnist.py", "--all_digits=maybe", "--all_digits"),
    ("train_mnist.py", "--bogus=1", "unrecognized arguments"),
    ("generate_mnist.py", "--digit=-1", "--digit"),
    ("generate_mnist.py", "--temperature=0", "--temperature"),
    ("classification.py", "--num_images=-5", "--num_images"),
    ("classification.py", "--json=yes", "--json"),
    ("classification.py", "--test_scales=1", "--test_scales"),
]


@pytest.mark.parametrize("script,flag,named", BAD_FLAGS)
def test_bad_flags_are_usage_errors(script, flag, named, script_env):
    proc = run(script, flag, env=script_env, check=False)
    assert proc.returncode == 2
    assert named in proc.stderr.splitlines()[-1]


def test_missing_model_and_missing_output_folder(script_env, tiny_models, tmp_path):
    proc = run("generate_mnist.py", "--digit=2", f"--models_dir={tmp_path}", f"--output={tmp_path / 'x.png'}",
               env=script_env, check=False)
    assert proc.returncode == 1
    assert without_settings(proc.stderr) == [
        f"error: model file {tmp_path / 'model_2.keras'} is missing; train it with "
        f"`python train_mnist.py --digit=2 --models_dir={tmp_path}`"]
    proc = run("generate_mnist.py", f"--models_dir={tiny_models}", f"--output={tmp_path / 'no' / 'x.png'}",
               env=script_env, check=False)
    assert proc.returncode == 1 and "folder does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_damaged_model_is_named(script_env, tiny_models, tmp_path):
    import shutil
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    (models / "model_7.keras").write_bytes(b"garbage")
    proc = run("classification.py", f"--models_dir={models}", "--confusion_output=none",
               "--num_images=10", env=script_env, check=False)
    assert proc.returncode == 1
    assert "model_7.keras is not a readable model file" in proc.stderr
    assert len(without_settings(proc.stderr)) == 1


def test_help_documents_every_flag_with_its_default():
    expected = {
        "train_mnist.py": ["--digit", "--num_images", "--epochs", "--all_digits", "--batch_size", "--seed",
                           "--clipnorm", "--profile"],
        "generate_mnist.py": ["--digit", "--grid_size", "--output_size", "--output", "--seed",
                              "--temperature", "--show", "--profile"],
        "classification.py": ["--num_images", "--json", "--nll", "--profile"],
        "demo.py": ["--host", "--port", "--reject", "--uniform_priors", "--profile"],
    }
    for script, flags in expected.items():
        out = subprocess.run([sys.executable, os.path.join(ROOT, script), "--help"],
                             capture_output=True, text=True, check=True).stdout
        for flag in flags:
            assert flag in out, (script, flag)
        assert out.count("default") >= len(flags) - 1


def test_generated_folder_is_created_when_missing(tiny_models, tmp_path, monkeypatch, capsys):
    import config
    import generate_mnist
    monkeypatch.setattr(config, "root", str(tmp_path / "fresh"))
    (tmp_path / "fresh").mkdir()
    generate_mnist.main(["--digit=5", f"--models_dir={tiny_models}", "--seed=3"])
    target = tmp_path / "fresh" / "generated" / "samples_of_5.png"
    assert target.exists() and str(target) in capsys.readouterr().out


def test_every_boolean_flag_takes_true_false_1_0_or_stands_alone():
    import argparse
    import classification
    import demo
    import generate_mnist
    import train_mnist
    import util
    for module in (train_mnist, generate_mnist, classification, demo):
        parser = module.build_parser(util.settings_for())
        flags = [a for a in parser._actions if a.type is util.str2bool]
        assert flags and not [a for a in parser._actions if a.nargs == 0 and not isinstance(a, argparse._HelpAction)]
        for action in flags:
            name, dest = action.option_strings[0], action.dest
            assert getattr(parser.parse_args([]), dest) is action.default and action.default in (True, False), name
            for words, value in (([name], True), ([f"{name}=True"], True), ([f"{name}=1"], True),
                                 ([f"{name}=False"], False), ([f"{name}=0"], False), ([name, "true"], True)):
                assert getattr(parser.parse_args(words), dest) is value, words


def tracked_copy(folder):
    """This checkout's tracked files (the default models among trained/) in a new git
    repository of its own, committed: a fresh clone that the scripts may be run in."""
    import shutil
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in names.decode().split("\0"):
        if name and os.path.exists(os.path.join(ROOT, name)) and (
                not name.startswith("trained/") or name.startswith("trained/mnist_models/")):
            os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(folder, name))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(git + cmd, cwd=folder, check=True, capture_output=True)


def test_the_readme_commands_change_no_tracked_file(script_env, tmp_path):
    clone = tmp_path / "clone"
    tracked_copy(clone)
    for script, *flags in (("classification.py", "--num_images=100"), ("classification.py", "--num_images=100", "--json"),
                           ("generate_mnist.py", "--digit=2"), ("generate_mnist.py", "--digit=all")):
        proc = subprocess.run([sys.executable, script, *flags], cwd=clone, env=script_env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    assert (clone / "generated" / "samples_of_2.png").exists()               # the runs wrote their output...
    status = subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout
    assert status == ""                                                       # ...and git sees no change


def test_a_folder_that_mixes_families_is_refused_in_one_line(script_env, tiny_models, tmp_path):
    import shutil
    import util
    from test_pixelcnn import random_net, tiny
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    s = tiny(target_size=6)                                  # only the family differs from the rest
    util.save_model(str(models / "model_3.keras"), random_net(s)[1], s, dict(digit=3))
    proc = run("classification.py", f"--models_dir={models}", "--confusion_output=none", "--num_images=10",
               env=script_env, check=False)
    assert proc.returncode == 1
    assert without_settings(proc.stderr) == [
        f"error: {models / 'model_3.keras'} holds a pixelcnn model, but profile tutorial uses gru models; "
        "use --profile=pixelcnn for a folder of such models, or keep one family per folder"]


def test_selection_keeps_each_transform_of_a_set_apart(tiny_models, tmp_path, capsys):
    """experiments/selection.py's cache: a file per set, split and transform (a rotated shift is
    not its unrotated twin), and what it reads back is what it computed."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import selection
    import util
    from conftest import synthetic_mnist
    s, models, split = selection.load_set("tutorial", tiny_models)
    assert split == (0, 0, 1)                          # as the files record it: nothing held out
    images = synthetic_mnist()["x_test"][:8]
    transforms = util.latents(1, (-10, 10))
    cache = str(tmp_path / "cache")
    direct = selection.set_terms(s, models, "test", images, transforms)
    first = selection.set_terms(s, models, "test", images, transforms, cache)
    again = selection.set_terms(s, models, "test", images, transforms, cache)
    assert len(os.listdir(cache)) == len(transforms) == 27
    np.testing.assert_allclose(first, direct, rtol=1e-5)
    np.testing.assert_array_equal(again, first)
    assert not np.allclose(direct[0], direct[1])       # the 27 terms differ: a shared file would not
    assert "held-out share" in capsys.readouterr().out
