"""Two computations that must agree: stepwise against full-sequence, log space against
the product, vectorised against a plain loop. Plus the model files' safety checks."""
import os
import zipfile

import numpy as np
import pytest

import util


@pytest.fixture(scope="module")
def model():
    keras = util.get_keras()
    keras.utils.set_random_seed(1)
    m = util.build_model(7, 32)
    # random weights and biases, larger than at initialisation, so the distributions are
    # far from flat and have no ties
    rng = np.random.default_rng(1)
    m.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in m.get_weights()])
    return m


def test_stepwise_probabilities_equal_the_full_sequence_model(model):
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 7, (6, 10, 10))
    x, _ = util.to_sequences(levels, 7)
    full = util.get_keras().ops.convert_to_numpy(model(x))                                  # (6, 101, 7)
    net = util.NumpyGRU(model)
    h, inputs, steps = net.zero_state(6), np.full(6, net.start), []
    flat = levels.reshape(6, -1)
    for t in range(101):
        h = net.step(h, inputs)
        steps.append(np.exp(net.log_probs(h)))
        inputs = flat[:, t] if t < 100 else inputs
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=2e-6)
    assert full.std() > 0.05                                    # not a trivially flat model


def test_log_likelihood_equals_log_of_product_of_probabilities(model):
    levels = np.random.default_rng(1).integers(0, 7, (5, 10, 10))
    x, _ = util.to_sequences(levels, 7)
    p = util.get_keras().ops.convert_to_numpy(model(x)).astype(np.float64)[:, :100]
    flat = levels.reshape(5, -1)
    product = np.prod(p[np.arange(5)[:, None], np.arange(100)[None], flat], 1)
    assert (product > 0).all()                                   # small enough not to underflow
    ll = util.log_likelihoods(util.NumpyGRU(model), levels, chunk=2)   # chunking must not matter
    np.testing.assert_allclose(ll, np.log(product), rtol=1e-5)


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


def test_saved_model_carries_its_settings_and_no_optimizer(model, tmp_path):
    path = str(tmp_path / "model_3.keras")
    util.save_model(model, path, dict(digit=3, target_size=10, max_intensity=6, num_classes=7, units=32))
    loaded, meta = util.load_digit_model(path, digit=3)
    assert meta["target_size"] == 10 and meta["units"] == 32
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    assert not any("optimizer" in n for n in zipfile.ZipFile(path).namelist())
    assert [f for f in os.listdir(tmp_path)] == ["model_3.keras"]          # no temporary left


def test_model_of_other_settings_is_refused(model, tmp_path):
    path = str(tmp_path / "model_1.keras")
    util.save_model(model, path, dict(digit=1, target_size=14, max_intensity=6, num_classes=7, units=32))
    with pytest.raises(util.UserError, match="target_size=14"):
        util.load_digit_model(path, digit=1)
    with pytest.raises(util.UserError, match="digit 1, not 2"):
        util.load_digit_model(path, digit=2, target_size=14)


def test_missing_and_damaged_model_files_are_named(model, tmp_path):
    missing = str(tmp_path / "model_4.keras")
    with pytest.raises(util.UserError, match=r"model_4.keras is missing.*train_mnist.py --digit=4"):
        util.load_digit_model(missing, digit=4)
    path = str(tmp_path / "model_5.keras")
    util.save_model(model, path, dict(digit=5, target_size=10, max_intensity=6, num_classes=7, units=32))
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) // 2])
    with pytest.raises(util.UserError, match="model_5.keras is not a readable model file"):
        util.load_digit_model(path, digit=5)
    open(path, "w").write("not a model")
    with pytest.raises(util.UserError, match="model_5.keras is not a readable model file"):
        util.load_digit_model(path, digit=5)


def test_tutorial_h5_model_loads(model, tmp_path):
    path = str(tmp_path / "model_2.h5")
    model.save(path)
    loaded, meta = util.load_digit_model(path, digit=2)
    assert meta["max_intensity"] == 6
    np.testing.assert_allclose(util.NumpyGRU(loaded).recurrent, util.NumpyGRU(model).recurrent)


def test_sampling_is_deterministic_per_seed_and_follows_temperature(model):
    net = util.NumpyGRU(model)
    a = util.sample(net, 8, 10, np.random.default_rng(5))
    b = util.sample(net, 8, 10, np.random.default_rng(5))
    c = util.sample(net, 8, 10, np.random.default_rng(6))
    assert a.shape == (8, 10, 10) and a.max() <= 6
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # at a very low temperature every draw is the most likely level: the same image each time
    cold = util.sample(net, 4, 10, np.random.default_rng(7), temperature=1e-4)
    assert all(np.array_equal(cold[0], img) for img in cold)


def test_sampled_pixel_frequencies_match_the_model(model):
    """The first pixel is drawn from p(pixel_0 | start): check its empirical frequencies."""
    net = util.NumpyGRU(model)
    p0 = np.exp(net.log_probs(net.step(net.zero_state(1), np.array([net.start]))))[0]
    draws = util.sample(net, 20000, 1, np.random.default_rng(0))[:, 0, 0]
    freq = np.bincount(draws, minlength=7) / len(draws)
    np.testing.assert_allclose(freq, p0, atol=0.015)


def test_shared_prefixes_give_the_same_likelihoods(model):
    """Images that begin alike share GRU states; the result must equal the per-image run."""
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 7, (300, 10, 10))
    levels[:, :3] = 0                                   # blank top rows, as in MNIST
    levels[:150, 3, :4] = rng.integers(0, 2, (150, 4))  # a few distinct short prefixes
    a = util.log_likelihoods(util.NumpyGRU(model), levels, chunk=128, share_prefixes=True)
    b = util.log_likelihoods(util.NumpyGRU(model), levels, chunk=128, share_prefixes=False)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_direct_file_reading_equals_keras_loading(model, tmp_path):
    path = str(tmp_path / "model_6.keras")
    util.save_model(model, path, dict(digit=6, target_size=10, max_intensity=6, num_classes=7, units=32))
    direct, meta = util.load_digit_net(path, digit=6)
    assert meta["digit"] == 6
    via_keras = util.NumpyGRU(util.load_digit_model(path, digit=6)[0])
    for name in ("rows_zr", "rows_n", "recurrent", "recurrent_bias_n", "dense_w", "dense_b"):
        assert np.array_equal(getattr(direct, name), getattr(via_keras, name)), name
    with pytest.raises(util.UserError, match="digit 6, not 5"):
        util.load_digit_net(path, digit=5)
    open(path, "wb").write(open(path, "rb").read()[:1000])
    with pytest.raises(util.UserError, match="model_6.keras is not a readable model file"):
        util.load_digit_net(path, digit=6)


def test_side_by_side_training_graph_computes_each_model_and_its_loss(model):
    """build_group_model's group g with model g's weights gives model g's probabilities
    at every pixel, and group_losses gives Keras' loss on the full sequence."""
    ops = util.get_keras().ops
    rng = np.random.default_rng(3)
    others = [model.get_weights(), [rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()]]
    grouped = util.build_group_model(2, 7, 32, 100)
    for g, weights in enumerate(others):
        for var, value in zip(grouped.get_layer("grouped_gru").per_group[g], weights):
            var.assign(value)
    levels = rng.integers(0, 7, (4, 2, 100))
    x = util.group_inputs(levels)
    assert (x[..., 0] == 0).all() and (x[..., 1:] == levels[..., :-1] + 1).all()
    logits = ops.convert_to_numpy(grouped(x))
    losses = ops.convert_to_numpy(util.group_losses(logits, levels, 100))
    keras_loss = util.get_keras().losses.CategoricalCrossentropy(reduction=None)
    for g, weights in enumerate(others):
        single = util.build_model(7, 32)
        single.set_weights(weights)
        seq, target = util.to_sequences(levels[:, g].reshape(4, 10, 10), 7)
        probs = ops.convert_to_numpy(single(seq))
        np.testing.assert_allclose(ops.convert_to_numpy(ops.softmax(logits[:, g])), probs[:, :100], atol=1e-5)
        np.testing.assert_allclose(losses[:, g], ops.convert_to_numpy(keras_loss(target, probs)).mean(1), rtol=1e-4)
        np.testing.assert_allclose(util.group_weights(grouped, g)[1], weights[1])


def test_ensemble_likelihood_is_the_mean_of_the_members_likelihoods(model):
    other = util.build_model(7, 32)
    rng = np.random.default_rng(2)
    other.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    nets = [util.NumpyGRU(model), util.NumpyGRU(other)]
    levels = rng.integers(0, 7, (9, 4, 4))                  # 16 pixels: the product stays in range
    each = [util.log_likelihoods(n, levels) for n in nets]
    product = (np.exp(each[0]) + np.exp(each[1])) / 2       # plain probabilities, no log space
    assert np.all(product > 1e-200)
    np.testing.assert_allclose(util.log_likelihoods(nets, levels), np.log(product), rtol=1e-9)


def test_ensemble_samples_come_from_each_member(tiny_models):
    nets = [util.load_digit_net(util.model_path(tiny_models, d), d)[0] for d in (0, 5)]
    levels = util.sample(nets, 60, 10, np.random.default_rng(0))
    assert levels.shape == (60, 10, 10) and levels.max() <= 6
    from_first = util.log_likelihoods(nets[0], levels) > util.log_likelihoods(nets[1], levels)
    assert 10 <= from_first.sum() <= 50                     # about half each; 0 or 60 if one member
    one = util.sample(nets[:1], 3, 10, np.random.default_rng(0))
    assert one.shape == (3, 10, 10)
