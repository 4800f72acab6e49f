"""Two computations that must agree: stepwise against full-sequence, log space against
the product, vectorised against a plain loop. Plus the model files' safety checks."""
import dataclasses
import os
import zipfile

import numpy as np
import pytest

from pixelbayes.families import base
from pixelbayes import training
from pixelbayes import modelfiles
import util
from conftest import sequences, small, stepwise_probabilities

GRU = util.GRUFamily
S32 = small(gru_units=32)
# Tolerance from float32 arithmetic. The numpy net and the backend's kernels compute the
# same sums in different orders (oneDNN, XLA and torch each fuse and block them their
# own way). Each pre-activation here sums K = 33 float32 products (32 units, one input
# row) of total size about sum|w h| = 32 * 0.6 * 0.8 = 15, so reordering changes it by
# about sqrt(K) * 6e-8 * 15 = 5e-6 (at worst K * 6e-8 * 15 = 3e-5); gates and softmax
# pass such errors on without growth (slopes <= 1), and the 100 steps carry them along.
# Measured largest differences: 1e-6 (TensorFlow), 5.5e-6 (jax). 2e-5 bounds that; a
# wrong gate, bias or start input moves probabilities by 1e-2 or more.
ATOL = 2e-5


@pytest.fixture(scope="module")
def model():
    keras = util.get_keras()
    keras.utils.set_random_seed(1)
    m = GRU.keras_model(S32)
    # random weights and biases, larger than at initialisation, so the distributions are
    # far from flat and have no ties
    rng = np.random.default_rng(1)
    m.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in m.get_weights()])
    return m


def net_of(model):
    return util.NumpyGRU(model.get_weights(), S32.model())


def test_stepwise_probabilities_equal_the_full_sequence_model(model):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 7, (6, 10, 10))
    x, _ = sequences(levels, 7)
    full = util.get_keras().ops.convert_to_numpy(model(x))                                  # (6, 101, 7)
    np.testing.assert_allclose(stepwise_probabilities(net_of(model), levels), full[:, :100], atol=ATOL)
    assert full.std() > 0.05                                    # not a trivially flat model


def test_log_likelihood_equals_log_of_product_of_probabilities(model):
    levels = np.random.default_rng(1).integers(0, 7, (5, 10, 10))
    x, _ = sequences(levels, 7)
    p = util.get_keras().ops.convert_to_numpy(model(x)).astype(np.float64)[:, :100]
    flat = levels.reshape(5, -1)
    product = np.prod(p[np.arange(5)[:, None], np.arange(100)[None], flat], 1)
    assert (product > 0).all()                                   # small enough not to underflow
    net = net_of(model)
    np.testing.assert_allclose(net.log_likelihoods(levels, chunk=2), np.log(product), rtol=1e-5)
    # the GRU's fast path (shared prefixes, chunks, threads) equals the generic stepwise one
    np.testing.assert_allclose(net.log_likelihoods(levels, chunk=2, workers=2),
                               base.PixelNet.log_likelihoods(net, levels), rtol=1e-6)


def test_log_helpers_equal_the_plain_formulas():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, (5, 7))
    plain = np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(util.log_softmax(logits, axis=1), plain, rtol=1e-12)
    values = rng.normal(-5, 2, (4, 6))
    np.testing.assert_allclose(util.log_mean_exp(values, axis=0), np.log(np.exp(values).mean(0)), rtol=1e-12)
    big = np.array([[-1000.0], [-1001.0]])               # exp underflows; the helper does not
    assert util.log_mean_exp(big, axis=0)[0] == pytest.approx(-1000 + np.log((1 + np.exp(-1)) / 2))


def test_vectorised_classification_equals_a_plain_loop():
    rng = np.random.default_rng(2)
    loglik = rng.normal(-150, 5, (200, 10))
    priors = np.log(rng.dirichlet(np.ones(10)))
    loop = []
    for row in loglik:
        best, best_score = None, -np.inf
        for k in range(10):
            if row[k] + priors[k] > best_score:
                best, best_score = k, row[k] + priors[k]
        loop.append(best)
    assert np.array_equal(util.classify(loglik, priors), loop)
    assert np.array_equal(util.classify(loglik), loglik.argmax(1))


def test_priors_are_training_shares():
    pri = util.log_priors(np.array([0, 0, 1, 9]))
    np.testing.assert_allclose(np.exp(pri[[0, 1, 9]]), [0.5, 0.25, 0.25])
    assert np.isneginf(pri[5])


def test_confusion_matrix_and_report():
    labels, pred = np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0])
    cm = util.confusion_matrix(labels, pred)
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[2, 0] == 1 and cm.sum() == 6
    rep = util.classification_report(labels, pred, cm)
    assert rep["accuracy"] == pytest.approx(4 / 6)
    assert rep["per_digit_accuracy"] == {"0": 0.5, "1": 1.0, "2": 0.6667}


def save(model, path, digit, settings=S32):
    util.save_model(str(path), model.get_weights(), settings, dict(digit=digit))
    return str(path)


def test_saved_model_carries_its_settings_and_no_optimizer(model, tmp_path):
    path = save(model, tmp_path / "model_3.keras", 3)
    net = util.load_net(path, digit=3)
    assert net.meta["settings"] == S32.record() and net.meta["digit"] == 3
    assert (net.target_size, net.levels, net.units) == (10, 7, 32)
    loaded = util.get_keras().models.load_model(path, compile=False)     # a plain Keras file too
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert not any("optimizer" in n for n in zipfile.ZipFile(path).namelist())
    assert os.listdir(tmp_path) == ["model_3.keras"]                     # no temporary left


def test_models_describe_their_shape_and_a_mixed_set_is_refused(model, tmp_path, monkeypatch):
    import dataclasses
    s14 = dataclasses.replace(S32, target_size=14)
    save(model, tmp_path / "model_1.keras", 1, s14)
    assert util.load_net(str(tmp_path / "model_1.keras"), 1).target_size == 14     # from the file
    with pytest.raises(util.UserError, match="digit 1, not 2"):
        util.load_net(str(tmp_path / "model_1.keras"), digit=2)
    save(model, tmp_path / "model_0.keras", 0)
    settings = dataclasses.replace(S32, models_dir=str(tmp_path))
    with pytest.raises(util.UserError, match="do not share one input shape.*10x10.*14x14"):
        util.load_models(settings, digits=[0, 1])
    save(model, tmp_path / "model_1.keras", 1, dataclasses.replace(S32, deskew=True))
    assert util.load_net(str(tmp_path / "model_1.keras"), 1).settings.deskew
    with pytest.raises(util.UserError, match="do not share one input shape.*10x10 with 7 levels, 10x10 with 7 "
                                             "levels, deskewed"):
        util.load_models(settings, digits=[0, 1])


def test_missing_and_damaged_model_files_are_named(model, tmp_path):
    missing = str(tmp_path / "model_4.keras")
    with pytest.raises(util.UserError, match=r"model_4.keras is missing.*train_mnist.py --digit=4`"):
        util.load_net(missing, digit=4)
    path = save(model, tmp_path / "model_5.keras", 5)
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) // 2])
    with pytest.raises(util.UserError, match="model_5.keras is not a readable model file"):
        util.load_net(path, digit=5)
    open(path, "w").write("not a model")
    with pytest.raises(util.UserError, match="model_5.keras is not a readable model file"):
        util.load_net(path, digit=5)


def test_a_file_that_records_settings_no_version_reads_is_refused_by_name(model, tmp_path):
    """A file whose record says an unknown scan or a held-out run of 0 images (a
    hand-edited record) is one line naming the file, not a wrong answer or a traceback."""
    for change, message in (({"scan": "diagonal"}, "scan='diagonal' for the gru family"),
                            ({"validation_block": 0}, "validation_block=0")):
        path = save(model, tmp_path / "model_3.keras", 3, dataclasses.replace(S32, **change))
        with pytest.raises(util.UserError, match=f"model_3.keras records {message}"):
            util.load_net(path, digit=3)
    path = save(model, tmp_path / "model_3.keras", 3)
    assert util.load_net(path, digit=3).settings.validation_block == 1


def test_tutorial_h5_model_loads(model, tmp_path):
    path = str(tmp_path / "model_2.h5")
    model.save(path)
    net = util.load_net(path, digit=2, settings=S32)
    assert net.levels == 7 and net.settings.gru_units == 32
    np.testing.assert_array_equal(net.recurrent, net_of(model).recurrent)


def test_files_of_the_first_format_load_with_their_settings(model, tmp_path):
    """Format gru-mnist/1 (the shipped files) kept its settings flat, `units` for gru_units."""
    path = save(model, tmp_path / "model_8.keras", 8)
    flat = dict(digit=8, format="gru-mnist/1", target_size=10, max_intensity=6, num_classes=7, units=32,
                epochs=2, batch_size=8, learning_rate=0.01, lr_schedule="cosine", validation_fraction=0,
                clipnorm=1.0, seed=0, history=[])
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    assert util.read_meta(path)["format"] == "pixelbayes-gru/3"         # what this version writes
    del entries[modelfiles.META_NAME]
    entries["gru_mnist.json"] = __import__("json").dumps(flat)         # the entry's first name
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in entries.items():
            z.writestr(name, blob)
    meta = util.read_meta(path)
    assert meta["settings"] == S32.record() and meta["digit"] == 8 and "units" not in meta


def test_sampling_is_deterministic_per_seed_and_follows_temperature(model):
    net = net_of(model)
    a = util.sample([net], 8, np.random.default_rng(5))
    b = util.sample([net], 8, np.random.default_rng(5))
    c = util.sample([net], 8, np.random.default_rng(6))
    assert a.shape == (8, 10, 10) and a.max() <= 6
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # at a very low temperature every draw is the most likely level: the same image each time
    cold = util.sample([net], 4, np.random.default_rng(7), temperature=1e-4)
    assert all(np.array_equal(cold[0], img) for img in cold)


def test_sampled_pixel_frequencies_match_the_model(model):
    """The first pixel is drawn from p(pixel_0 | start): check its empirical frequencies."""
    net = net_of(model)
    p0 = np.exp(net.log_probs(net.step(net.start(1), None)))[0]
    draws = util.sample([net], 20000, np.random.default_rng(0))[:, 0, 0]
    freq = np.bincount(draws, minlength=7) / len(draws)
    np.testing.assert_allclose(freq, p0, atol=0.015)


def test_shared_prefixes_give_the_same_likelihoods(model):
    """Images that begin alike share GRU states; the result must equal the per-image run."""
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 7, (300, 10, 10))
    levels[:, :3] = 0                                   # blank top rows, as in MNIST
    levels[:150, 3, :4] = rng.integers(0, 2, (150, 4))  # a few distinct short prefixes
    net = net_of(model)
    a = net.log_likelihoods(levels, chunk=128)
    b = np.array([net.log_likelihoods(levels[i:i + 1])[0] for i in range(len(levels))])   # nothing shared
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_direct_file_reading_equals_keras_loading(model, tmp_path):
    path = save(model, tmp_path / "model_6.keras", 6)
    direct = util.load_net(path, digit=6)
    weights, _ = GRU.from_keras_model(util.get_keras().models.load_model(path, compile=False), S32)
    via_keras = util.NumpyGRU(weights, S32.model())
    for name in ("rows_zr", "rows_n", "recurrent", "recurrent_bias_n", "dense_w", "dense_b"):
        assert np.array_equal(getattr(direct, name), getattr(via_keras, name)), name
    open(path, "wb").write(open(path, "rb").read()[:1000])
    with pytest.raises(util.UserError, match="model_6.keras is not a readable model file"):
        util.load_net(path, digit=6)


def test_side_by_side_training_graph_computes_each_model_and_its_loss(model):
    """build_group_model's model g with model g's weights gives model g's probabilities
    at every pixel, and pixel_nats gives Keras' loss on the pixels."""
    ops = util.get_keras().ops
    rng = np.random.default_rng(3)
    others = [model.get_weights(), [rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()]]
    grouped = training.build_group_model(S32, 2)
    for g, weights in enumerate(others):
        for var, value in zip(grouped.get_layer("side_by_side").per_model[g], weights):
            var.assign(value)
    levels = rng.integers(0, 7, (4, 2, 100))
    logits = ops.convert_to_numpy(grouped(levels.astype("int32")))
    nats = ops.convert_to_numpy(training.pixel_nats(logits, levels))
    keras_loss = util.get_keras().losses.CategoricalCrossentropy(reduction=None)
    for g, weights in enumerate(others):
        single = GRU.keras_model(S32)
        single.set_weights(weights)
        seq, target = sequences(levels[:, g].reshape(4, 10, 10), 7)
        probs = ops.convert_to_numpy(single(seq))
        np.testing.assert_allclose(ops.convert_to_numpy(ops.softmax(logits[:, g])), probs[:, :100], atol=ATOL)
        per_pixel = ops.convert_to_numpy(keras_loss(target[:, :100], probs[:, :100])).mean(1)
        np.testing.assert_allclose(nats[:, g], per_pixel, rtol=1e-4)
        np.testing.assert_array_equal(training.model_weights(grouped, g)[1], weights[1])


def test_mixture_likelihood_is_the_mean_of_the_members_likelihoods(model):
    other = GRU.keras_model(S32)
    rng = np.random.default_rng(2)
    other.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    nets = [net_of(model), net_of(other)]
    copies = rng.integers(0, 7, (2, 9, 4, 4))              # 2 shifted copies, 16 pixels: no underflow
    each = [np.exp(net.log_likelihoods(lv)) for net in nets for lv in copies]
    mean = sum(each) / 4                                    # plain probabilities, no log space
    assert np.all(mean > 1e-200)
    np.testing.assert_allclose(util.digit_log_likelihoods(nets, copies), np.log(mean), rtol=1e-9)
    np.testing.assert_array_equal(util.digit_log_likelihoods(nets[:1], copies[:1]),
                                  nets[0].log_likelihoods(copies[0]))


def test_mixture_samples_come_from_each_member(tiny_models):
    nets = [util.load_net(util.model_path(tiny_models, d), d) for d in (0, 5)]
    levels = util.sample(nets, 60, np.random.default_rng(0))
    assert levels.shape == (60, 6, 6) and levels.max() <= 6     # the models' size
    from_first = nets[0].log_likelihoods(levels) > nets[1].log_likelihoods(levels)
    assert 10 <= from_first.sum() <= 50                     # about half each; 0 or 60 if one member
