"""The shipped models and pictures: they load under this backend, carry the default
settings and no optimizer state, and classify real MNIST test images well.

Real MNIST comes through util.load_mnist() (cache, else the package index)."""
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

import util
from pixelbayes import modelfiles
from conftest import ROOT

DOCS = os.path.join(ROOT, "docs")          # the README's pictures (benchmarks/pictures.py)


# the profiles with shipped models of their own; "mix" and "families" mix two of them
SHIPPED = ["tutorial", "fast", "shift", "pixelcnn", "pixelcnn28_plain", "pixelcnn28", "pixelcnn28_shared", "shift_long",
           "shift_xlong", "shift_xlong_columns", "shift_xlong_rows_reversed"]


@pytest.mark.parametrize("profile", SHIPPED)
def test_shipped_models_carry_their_profiles_settings_and_no_optimizer(profile):
    settings = util.settings_for(profile)
    for d in (["all"] if settings.shared_detail else range(10)):
        path = util.model_path(settings.models_dir, d)
        net = util.load_net(path, digit=d)
        assert net.settings == settings.model()        # made with exactly this profile (files
                                                       # older than a field: its default)
        assert (net.target_size, net.levels) == (settings.target_size, 7) and net.target_size in (10, 14, 28)
        if settings.family == "gru":
            assert net.units == settings.gru_units
        elif settings.family == "detail":           # given the shape of the shape profile's models
            assert net.shape_size == util.settings_for(settings.shape).target_size == 10
        else:
            k = settings.pixelcnn_first_kernel
            assert net.weights[0].shape == (k, k, 7, settings.pixelcnn_filters)
        assert not any("optimizer" in n for n in zipfile.ZipFile(path).namelist())
        assert os.path.getsize(path) < 2_000_000


# n: fewer images where each costs many passes (18 for the mixes, 27 for shift_xlong_orders)
@pytest.mark.parametrize("profile,n,least", [("tutorial", 1000, 0.97), ("fast", 1000, 0.97), ("shift", 300, 0.97),
                                             ("mix", 100, 0.97), ("pixelcnn", 1000, 0.97), ("families", 100, 0.97),
                                             ("pixelcnn28_plain", 300, 0.85), ("pixelcnn28", 100, 0.97),
                                             ("shift_long", 300, 0.97),
                                             ("shift_xlong_orders", 100, 0.97)])
def test_shipped_models_classify_real_test_images(profile, n, least):
    settings = util.settings_for(profile)
    data = util.load_mnist()
    models = util.load_models(settings)
    copies = util.classifier_inputs(data["x_test"][:n], models, settings.test_latents())
    loglik = np.stack([util.digit_log_likelihoods(m, copies, workers=2) for m in models], 1)
    pred = util.classify(loglik, util.log_priors(data["y_train"]))
    assert np.mean(pred == data["y_test"][:n]) >= least   # all 10,000: 0.98-0.99+, pixelcnn28_plain 0.92; chance 0.1
    own = loglik[np.arange(n), data["y_test"][:n]] / models[0][0].seq_len / np.log(2)
    assert -own.mean() < 1.0                      # bits per pixel under the true digit's model


def test_shipped_grids_are_160_pixel_pngs():
    for d in range(10):
        image = Image.open(os.path.join(DOCS, f"samples_of_{d}.png"))
        assert image.size == (160, 160)
        assert np.asarray(image).max() == 255     # the brightest level is white, not wrapped


def test_every_recommended_profile_and_every_shipped_folder_belong_together():
    """The profiles a user is offered have their models in trained/, and trained/ holds no
    set that no profile reads (docs/journal.md names the commit of the sets that left)."""
    import config
    used = {s.models_dir for name in [*config.profiles, *SHIPPED]
            for s in modelfiles.model_sets(util.settings_for(name))}
    folders = {os.path.join(ROOT, "trained", f) for f in os.listdir(os.path.join(ROOT, "trained"))}
    assert folders == used
