"""Named settings profiles: the settings value of each, and the scripts' --profile flag."""
import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

import config
from pixelbayes import modelfiles
import util
from conftest import small_config
from test_scripts import run


def test_a_profile_is_config_with_its_values_over_it_and_config_is_never_changed(monkeypatch):
    monkeypatch.setitem(config.profiles, "wide", {"gru_units": 512, "max_intensity": 3, "epochs": 40})
    before = {k: getattr(config, k) for k in dir(config) if not k.startswith("_")}
    wide = util.settings_for("wide")
    assert (wide.gru_units, wide.max_intensity, wide.levels, wide.epochs) == (512, 3, 4, 40)
    assert wide.models_dir == os.path.join(config.root, "trained", "mnist_models_wide")
    assert wide.generated_dir == os.path.join(config.root, "generated", "wide")
    assert {k: getattr(config, k) for k in dir(config) if not k.startswith("_")} == before
    default = util.settings_for()
    assert (default.profile, default.gru_units, default.levels, default.seq_len) == ("tutorial", 256, 7, 100)
    assert default.models_dir == os.path.join(config.root, "trained", "mnist_models")
    assert util.settings_for("ensemble").ensemble == 2 and util.settings_for("fast").epochs == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.epochs = 3                                   # one value, passed down, never mutated


def test_best_names_a_real_profile_and_unknown_is_refused(monkeypatch):
    assert util.settings_for("best").profile == config.best_profile in config.profiles
    with pytest.raises(util.UserError, match="unknown profile 'nope'"):
        util.settings_for("nope")
    monkeypatch.setitem(config.profiles, "typo", {"gru_unit": 3})
    with pytest.raises(util.UserError, match="sets 'gru_unit', which config.py does not have"):
        util.settings_for("typo")
    for runs in (0, 2.5):
        monkeypatch.setitem(config.profiles, "runs", {"validation_block": runs})
        with pytest.raises(util.UserError, match=f"sets validation_block={runs}; a held-out run is a whole number"):
            util.settings_for("runs")
    monkeypatch.setitem(config.profiles, "runs", {"validation_block": 200})
    assert util.settings_for("runs").model().validation_block == 200


def test_a_mixture_profile_reads_each_named_profiles_models(monkeypatch, tmp_path):
    mix = util.settings_for("mix")
    assert [s.profile for s in modelfiles.model_sets(mix)] == list(mix.mix) and mix.test_shifts == 1
    assert [s.models_dir for s in modelfiles.model_sets(mix)] == [util.settings_for(n).models_dir for n in mix.mix]
    with pytest.raises(util.UserError, match="--models_dir does not apply"):
        util.models_dir_flag(mix, str(tmp_path))


def test_scripts_train_and_use_an_ensemble_profile(script_env, tmp_path, monkeypatch, fake_mnist_npz):
    import train_mnist
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    small_config(monkeypatch)
    models = str(tmp_path / "ens")
    train_mnist.main(["--profile=ensemble", "--all_digits=True", "--num_images=6", "--epochs=1",
                      "--batch_size=6", f"--models_dir={models}", "--quiet"])
    names = set(os.listdir(models))
    assert {f"model_{d}.keras" for d in range(10)} | {f"model_{d}_member1.keras" for d in range(10)} <= names
    assert util.read_meta(os.path.join(models, "model_4_member1.keras"))["seed"] == 1
    assert util.read_meta(os.path.join(models, "model_4.keras"))["seed"] == 0
    cls = run("classification.py", "--profile=ensemble", "--num_images=12", f"--models_dir={models}",
              "--confusion_output=none", env=script_env)
    assert "profile=ensemble" in cls.stderr and "ensemble=2" in cls.stderr
    assert "Classification accuracy on a test set: 0." in cls.stdout
    png = str(tmp_path / "s.png")
    run("generate_mnist.py", "--profile=ensemble", "--digit=all", f"--models_dir={models}",
        f"--output={png}", env=script_env)
    assert os.path.getsize(png) > 0
    os.remove(os.path.join(models, "model_6_member1.keras"))
    missing = run("classification.py", "--profile=ensemble", f"--models_dir={models}",
                  "--confusion_output=none", env=script_env, check=False)
    assert missing.returncode == 1
    assert "model_6_member1.keras is missing" in missing.stderr and "--profile=ensemble" in missing.stderr


def test_unknown_profile_is_a_flag_error(script_env):
    for script in ("train_mnist.py", "generate_mnist.py", "classification.py"):
        proc = run(script, "--profile=huge", env=script_env, check=False)
        assert proc.returncode == 2 and "--profile" in proc.stderr and "huge" in proc.stderr


def test_training_a_mixture_profile_trains_each_named_profile(monkeypatch, tmp_path, fake_mnist_npz):
    import train_mnist
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    monkeypatch.setattr(config, "root", str(tmp_path))       # nothing of the checkout is touched
    small_config(monkeypatch)
    train_mnist.main(["--profile", "mix", "--digit=0", "--num_images=6", "--epochs=1", "--quiet"])
    for name, shifts in (("tutorial", 0), ("shift", 1)):
        path = util.model_path(util.settings_for(name).models_dir, 0)
        assert path.startswith(str(tmp_path)) and util.read_meta(path)["settings"]["train_shifts"] == shifts
    with pytest.raises(util.UserError, match="--models_dir does not apply"):
        train_mnist.main(["--profile=mix", f"--models_dir={tmp_path}"])


def test_a_profiles_sample_temperature_is_what_generate_draws_at_unless_told(monkeypatch, tiny_models, tmp_path):
    import generate_mnist

    def tiles(*flags):
        path = str(tmp_path / "grid.png")
        generate_mnist.main(["--digit=4", "--grid_size=3", "--output_size=6", "--seed=3",
                             f"--models_dir={tiny_models}", f"--output={path}", *flags])
        grid = np.asarray(Image.open(path).convert("L"))
        return [grid[r:r + 6, c:c + 6] for r in range(0, 18, 6) for c in range(0, 18, 6)]

    monkeypatch.setitem(config.profiles, "cold", {"sample_temperature": 1e-4})
    cold = tiles("--profile=cold")                      # every draw the likeliest level: one image
    assert all(np.array_equal(cold[0], t) for t in cold)
    warm = tiles("--profile=cold", "--temperature=1")   # the flag over the profile's value
    assert not all(np.array_equal(warm[0], t) for t in warm)
    assert util.settings_for().sample_temperature == 1.0
    for bad in (0, -1, "hot"):
        monkeypatch.setitem(config.profiles, "cold", {"sample_temperature": bad})
        with pytest.raises(util.UserError, match="sets sample_temperature=.*a temperature is a number above 0"):
            util.settings_for("cold")
