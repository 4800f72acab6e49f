"""The scan setting: a model that reads column by column is the same network reading the
transposed image, in classification, sampling, training and the keras engine; and sets
of either order mix, being densities of the same image."""
import dataclasses

import numpy as np
import pytest

import config
import util
from conftest import small, synthetic_digits, train_one
from pixelbayes import engine
from pixelbayes.preprocess import scan_order, subscale_permutation
from pixelbayes.families import base
from test_engine import RTOL, both
from test_pixelcnn import random_net, tiny


def gru_pair(units=16, size=6, seed=2):
    """A GRU with random weights as a rows net and as a columns net (the same weights)."""
    s = small(gru_units=units, target_size=size)
    util.get_keras().utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.6, w.shape).astype(np.float32) for w in util.GRUFamily.keras_model(s).get_weights()]
    return [util.NumpyGRU(weights, dataclasses.replace(s.model(), scan=scan)) for scan in ("rows", "columns")]


def asymmetric_levels(n, size, seed):
    levels = np.random.default_rng(seed).integers(0, 7, (n, size, size))
    assert not np.array_equal(levels, levels.transpose(0, 2, 1))
    return levels


def test_a_columns_model_reads_the_transposed_image():
    """The same arithmetic on the same sequences (for the GRU's fast path, the generic
    stepwise one, and the PixelCNN), equal to float rounding (a BLAS may round arrays at
    other addresses differently); and not what it gives the image read row by row."""
    rows, columns = gru_pair()
    levels = asymmetric_levels(12, 6, seed=3)
    transposed = levels.transpose(0, 2, 1)
    close = dict(rtol=1e-6)                      # a wrong order moves them by 1e-3 or more (below)
    np.testing.assert_allclose(columns.log_likelihoods(levels, chunk=5), rows.log_likelihoods(transposed, chunk=5),
                               **close)
    np.testing.assert_allclose(base.PixelNet.log_likelihoods(columns, levels),
                               base.PixelNet.log_likelihoods(rows, transposed), **close)
    assert np.abs(columns.log_likelihoods(levels) - rows.log_likelihoods(levels)).min() > 1e-3
    s = tiny(target_size=6)
    cnn_rows, _ = random_net(s, seed=1)
    cnn_columns = util.NumpyPixelCNN(cnn_rows.weights, dataclasses.replace(s.model(), scan="columns"))
    np.testing.assert_allclose(cnn_columns.log_likelihoods(levels), cnn_rows.log_likelihoods(transposed), **close)
    assert np.abs(cnn_columns.log_likelihoods(levels) - cnn_rows.log_likelihoods(levels)).min() > 1e-3


def test_a_columns_model_draws_upright_images():
    """Sampling draws the pixels column by column and returns the image upright: the rows
    net's draws (same weights, same random numbers) transposed."""
    rows, columns = gru_pair()
    a = util.sample([columns], 16, np.random.default_rng(4))
    b = util.sample([rows], 16, np.random.default_rng(4))
    assert a.shape == (16, 6, 6) and np.array_equal(a, b.transpose(0, 2, 1))


def test_training_a_columns_model_trains_on_the_transposed_images(tmp_path):
    """Training with scan columns on images is training with scan rows on their transposes
    (the same sequences, seed and graph): the same weights to float rounding, and the file
    records the setting."""
    s = small(target_size=6, gru_units=8, epochs=1)
    levels = asymmetric_levels(24, 6, seed=5)
    meta = train_one(levels, str(tmp_path / "columns.keras"), 0, dataclasses.replace(s, scan="columns"), verbose=0)
    train_one(levels.transpose(0, 2, 1), str(tmp_path / "rows.keras"), 0, s, verbose=0)
    train_one(levels, str(tmp_path / "plain.keras"), 0, s, verbose=0)
    nets = {name: util.load_net(str(tmp_path / f"{name}.keras"), 0) for name in ("columns", "rows", "plain")}
    assert meta["settings"]["scan"] == "columns" and nets["columns"].settings.scan == "columns"
    assert nets["rows"].settings.scan == "rows"
    for a, b in zip(nets["columns"].weights, nets["rows"].weights):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(nets["columns"].weights[0], nets["plain"].weights[0], atol=1e-3)


def test_the_keras_engine_mixes_rows_and_columns_models_as_numpy_does():
    """Each order is its own group in the graph; a digit mixing the two gets what the
    numpy nets give it, over shifts, to float32 accuracy."""
    rows, columns = gru_pair(units=8)
    other_rows, other_columns = gru_pair(units=8, seed=6)
    models = [[rows, columns], [other_columns], [other_rows]]
    images, _ = synthetic_digits(2, seed=7)
    numpy, keras = both(models, images, util.latents(1), dataclasses.replace(util.settings_for(), cascade_margin=0.0))
    np.testing.assert_allclose(keras, numpy, rtol=RTOL)
    assert not np.allclose(numpy[:, 1], numpy[:, 2])       # the two orders of one net differ
    with pytest.raises(ValueError, match="different orders"):          # one graph, one order
        engine.log_likelihoods([rows, columns], np.zeros((2, 6, 6), np.int64))


@pytest.mark.parametrize("scan", ["rows_reversed", "columns_reversed"])
def test_a_reversed_model_reads_the_image_backwards(scan):
    """The reversed orders read from the last pixel: a net of that order gives the image
    what the rows net gives the image turned by 180 degrees (transposed first, for columns),
    to float rounding, and draws that image's turned pixels; each order is its own inverse."""
    rows, _ = gru_pair()
    net = util.NumpyGRU(rows.weights, dataclasses.replace(rows.settings, scan=scan))
    levels = asymmetric_levels(12, 6, seed=3)
    turned = (levels.transpose(0, 2, 1) if scan.startswith("columns") else levels)[:, ::-1, ::-1]
    assert np.array_equal(scan_order(turned, scan), levels)                       # its own inverse
    np.testing.assert_allclose(net.log_likelihoods(levels), rows.log_likelihoods(turned), rtol=1e-6)
    for other in ("rows", "columns"):
        twin = util.NumpyGRU(rows.weights, dataclasses.replace(rows.settings, scan=other))
        assert np.abs(net.log_likelihoods(levels) - twin.log_likelihoods(levels)).min() > 1e-3
    a = util.sample([net], 16, np.random.default_rng(4))
    b = util.sample([rows], 16, np.random.default_rng(4))
    assert np.array_equal(a, scan_order(b, scan)) and a.flags.c_contiguous


def test_a_subscale_model_reads_the_slices_in_turn():
    """The subscale order reads the pixels (2i, 2j) first, then the three other slices,
    each row by row; back from it is its inverse. A subscale net gives an image what the
    rows net gives the image laid out in that order (the same arithmetic on the same
    sequences, to float rounding), draws in that order and returns the image as it is;
    the keras engine reads it as the numpy net does."""
    assert subscale_permutation(4).tolist() == [0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15]
    assert sorted(subscale_permutation(5).tolist()) == list(range(25))      # odd sides too
    assert subscale_permutation(5)[:9].tolist() == [0, 2, 4, 10, 12, 14, 20, 22, 24]
    rows, _ = gru_pair()
    net = util.NumpyGRU(rows.weights, dataclasses.replace(rows.settings, scan="subscale"))
    levels = asymmetric_levels(12, 6, seed=3)
    read = scan_order(levels, "subscale")
    assert np.array_equal(read.reshape(12, -1), levels.reshape(12, -1)[:, subscale_permutation(6)])
    assert np.array_equal(scan_order(read, "subscale", back=True), levels)
    np.testing.assert_allclose(net.log_likelihoods(levels), rows.log_likelihoods(read), rtol=1e-6)
    assert np.abs(net.log_likelihoods(levels) - rows.log_likelihoods(levels)).min() > 1e-3
    a = util.sample([net], 16, np.random.default_rng(4))
    b = util.sample([rows], 16, np.random.default_rng(4))
    assert np.array_equal(a, scan_order(b, "subscale", back=True)) and a.flags.c_contiguous
    numpy, keras = both([[net], [rows]], synthetic_digits(2, seed=7)[0], util.latents(0),
                        dataclasses.replace(util.settings_for(), cascade_margin=0.0))
    np.testing.assert_allclose(keras, numpy, rtol=RTOL)


def test_training_a_subscale_model_trains_on_the_images_in_that_order(tmp_path):
    """Training with scan subscale is training with scan rows on the images laid out in
    the subscale order (the same sequences, seed and graph): the same weights to float
    rounding; and not the weights of rows on the images as they are."""
    s = small(target_size=6, gru_units=8, epochs=1)
    levels = asymmetric_levels(24, 6, seed=5)
    laid_out = levels.reshape(24, 36)[:, subscale_permutation(6)].reshape(24, 6, 6)
    meta = train_one(levels, str(tmp_path / "subscale.keras"), 0, dataclasses.replace(s, scan="subscale"), verbose=0)
    train_one(laid_out, str(tmp_path / "rows.keras"), 0, s, verbose=0)
    train_one(levels, str(tmp_path / "plain.keras"), 0, s, verbose=0)
    nets = {name: util.load_net(str(tmp_path / f"{name}.keras"), 0) for name in ("subscale", "rows", "plain")}
    assert meta["settings"]["scan"] == "subscale" and nets["subscale"].settings.scan == "subscale"
    for a, b in zip(nets["subscale"].weights, nets["rows"].weights):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(nets["subscale"].weights[0], nets["plain"].weights[0], atol=1e-3)


def test_a_profile_with_an_unknown_scan_is_refused(monkeypatch):
    monkeypatch.setitem(config.profiles, "diagonal", {"scan": "diagonal"})
    with pytest.raises(util.UserError, match="scan='diagonal'; choose one of rows, columns"):
        util.settings_for("diagonal")
    monkeypatch.setitem(config.profiles, "slices", {"scan": "subscale", "family": "pixelcnn"})
    with pytest.raises(util.UserError, match="scan='subscale' for the pixelcnn family"):
        util.settings_for("slices")
