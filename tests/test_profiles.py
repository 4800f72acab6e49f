"""Named settings profiles: applying one, and going back, and the scripts' --profile flag."""
import os

import pytest

import config
import util
from test_scripts import run


@pytest.fixture
def restore_profile():
    yield
    util.apply_profile("tutorial")


def test_profile_sets_its_values_and_folders_then_tutorial_restores_all(restore_profile, monkeypatch):
    monkeypatch.setitem(config.profiles, "wide", {"gru_units": 512, "max_intensity": 3, "epochs": 40})
    tutorial = (config.models_dir, config.epochs)
    assert util.apply_profile("wide") == "wide"
    assert (config.gru_units, config.max_intensity, config.num_classes, config.epochs) == (512, 3, 4, 40)
    assert config.factor == 256 / 3
    assert config.models_dir == os.path.join(config.root, "trained", "mnist_models_wide")
    assert config.generated_dir == os.path.join(config.root, "generated", "wide")
    util.apply_profile("ensemble")                          # nothing of "wide" is left behind
    assert (config.gru_units, config.max_intensity, config.ensemble) == (256, 6, 2)
    util.apply_profile("tutorial")
    assert (config.gru_units, config.num_classes, config.ensemble) == (256, 7, 1)
    assert (config.models_dir, config.epochs) == tutorial and config.profile == "tutorial"


def test_best_names_a_real_profile_and_unknown_is_refused(restore_profile):
    assert util.apply_profile("best") == config.best_profile in config.profiles
    with pytest.raises(util.UserError, match="unknown profile 'nope'"):
        util.apply_profile("nope")


def test_scripts_train_and_use_an_ensemble_profile(script_env, tmp_path):
    models = str(tmp_path / "ens")
    run("train_mnist.py", "--profile=ensemble", "--all_digits=True", "--num_images=6", "--epochs=1",
        "--batch_size=6", f"--models_dir={models}", "--quiet", env=script_env)
    names = set(os.listdir(models))
    assert {f"model_{d}.keras" for d in range(10)} | {f"model_{d}_member1.keras" for d in range(10)} <= names
    assert util.read_meta(os.path.join(models, "model_4_member1.keras"))["seed"] == 1
    assert util.read_meta(os.path.join(models, "model_4.keras"))["seed"] == 0
    cls = run("classification.py", "--profile=ensemble", "--num_images=12", f"--models_dir={models}",
              "--confusion_output=none", env=script_env)
    assert "profile=ensemble" in cls.stdout and "ensemble=2" in cls.stdout
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
