"""The shape, then the detail (family "detail", families/detail.py): the shape is the same
function of the image in numpy and in the graph; the detail's conditionals are causal
given the shape; its sampler's probabilities are the full network's; its files round-trip;
the numpy nets and the keras engine agree on shape x detail; and a tiny run trains, draws
and classifies through the scripts."""
import dataclasses
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import util
from conftest import ROOT, small, synthetic_digits, synthetic_mnist
from pixelbayes import modelfiles
from pixelbayes.families import detail as detail_family
from pixelbayes.families.detail import DetailFamily, NumpyDetail, ShapeThenDetail, shape_of, shape_of_ops

SIZE, SHAPE = 14, 6                 # the detail's image and the tiny GRUs' shape (conftest.tiny_models)


def tiny_detail(**changes):
    return small(**dict(dict(family="detail", shape="shift", target_size=SIZE, shape_size=SHAPE,
                             pixelcnn_filters=8, pixelcnn_blocks=2), **changes))


def random_detail(s, seed=0):
    """A detail net with the Keras form's initial weights, perturbed so that no bias is zero."""
    util.get_keras().utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    weights = [w + rng.normal(0, 0.1, w.shape).astype(np.float32) for w in DetailFamily.keras_model(s).get_weights()]
    return NumpyDetail(weights, s.model()), weights


def test_the_shape_is_one_function_of_the_image_in_numpy_and_in_the_graph():
    levels = np.random.default_rng(0).integers(0, 7, (20, 28, 28))
    levels[0], levels[1] = 0, 6                                         # blank, and all ink
    shape = shape_of(levels, 10)
    assert shape.shape == (20, 10, 10) and (shape[0] == 0).all() and (shape[1] == 6).all()
    ones = np.zeros((1, 28, 28), int)
    ones[0, 9:19, 9:19] = 3                                             # a mid-grey square in the middle
    assert shape_of(ones, 10)[0, 4:6, 4:6].min() == 3 and shape_of(ones, 10)[0, 0].max() == 0
    s = dataclasses.replace(util.settings_for("pixelcnn28"), shape_size=10)
    ops = util.get_keras().ops
    up = ops.convert_to_numpy(shape_of_ops(ops, levels.reshape(20, 1, -1).astype(np.int32), s))[:, 0]
    near = detail_family.nearest(28, 10)
    np.testing.assert_array_equal(up, shape[:, near][:, :, near])      # exact: integers, no rounding anywhere
    # the weights stay those of skimage's resize, which the shape GRUs were trained on
    from skimage.transform import resize
    smooth = np.random.default_rng(1).random((28, 28))
    weights = detail_family.shape_weights(28, 10) / 100
    np.testing.assert_allclose(weights @ smooth @ weights.T, resize(smooth, (10, 10), anti_aliasing=True), atol=0.02)


def test_the_detail_given_its_shape_is_causal():
    """With the shape held fixed, changing pixel t moves no conditional at or before t, in
    the numpy net, the saved Keras form and the training graph; it moves those after t
    that see it. (The shape itself is given whole: it is the condition, not a pixel.)"""
    s = tiny_detail()
    net, weights = random_detail(s, seed=1)
    rng = np.random.default_rng(2)
    base, shape = rng.integers(0, 7, (SIZE, SIZE)), rng.integers(0, 7, (1, SHAPE, SHAPE))
    t = np.arange(SIZE * SIZE)
    changed = np.repeat(base[None], len(t), axis=0)
    changed[t, t // SIZE, t % SIZE] = (base.reshape(-1) + 3) % 7
    images = np.concatenate([base[None], changed])
    given = np.repeat(shape, len(images), axis=0)
    per_net = net.logits(images, net.features(given)).reshape(len(images), len(t), -1)
    model = DetailFamily.keras_model(s)
    model.set_weights(weights)
    near = detail_family.nearest(SIZE, SHAPE)
    onehot = np.eye(7, dtype=np.float32)
    probs = util.get_keras().ops.convert_to_numpy(model([onehot[images], onehot[given[:, near][:, :, near]]]))
    per_keras = np.log(probs).reshape(len(images), len(t), -1)
    for name, out in (("numpy", per_net), ("keras", per_keras)):
        diff = np.abs(out[1:] - out[:1]).max(-1)                          # (changed pixel, position)
        assert diff[np.tril_indices(len(t))].max() <= 1e-5, name
        right = t[t % SIZE < SIZE - 1]
        assert diff[right, right + 1].min() > 1e-4, name
    # the training graph computes the shape from the image: with the same image it gives
    # the net's conditionals, the shape of that image given
    from pixelbayes import training
    graph = training.build_group_model(s, 1)
    for var, value in zip(graph.get_layer("side_by_side").per_model[0], weights):
        var.assign(value)
    logits = util.get_keras().ops.convert_to_numpy(graph(images[:3].reshape(3, 1, -1).astype(np.int32)))[:, 0]
    np.testing.assert_allclose(logits, net.block_logits(images[:3]).reshape(3, len(t), -1), atol=1e-4)


def test_the_samplers_probabilities_are_the_full_networks_and_a_draw_keeps_its_shape_given():
    s = tiny_detail()
    net, _ = random_detail(s, seed=3)
    levels = np.random.default_rng(4).integers(0, 7, (3, SIZE, SIZE))
    shape = shape_of(levels, SHAPE)
    flat = levels.reshape(3, -1)
    state, pixels, steps = net.start(3, shape), None, []
    for t in range(flat.shape[1]):
        state = net.step(state, pixels)
        steps.append(np.exp(net.log_probs(state)))
        pixels = flat[:, t]
    full = np.exp(util.log_softmax(net.block_logits(levels).astype(np.float64))).reshape(3, -1, 7)
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=2e-5)
    ll = np.log(np.take_along_axis(full, flat[..., None], -1)[..., 0]).sum(1)
    np.testing.assert_allclose(net.log_likelihoods(levels, chunk=2, workers=2), ll, rtol=1e-5)
    with pytest.raises(ValueError, match="draws the detail of a shape"):
        net.start(3)


def test_a_saved_detail_model_round_trips(tmp_path):
    s = tiny_detail()
    _, weights = random_detail(s, seed=5)
    path = str(tmp_path / "model_all.keras")
    util.save_model(path, weights, s, dict(digit="all"))
    assert modelfiles.read_weights(path, DetailFamily) is not None                 # read without Keras
    loaded = util.load_net(path, "all")
    assert isinstance(loaded, NumpyDetail) and loaded.settings == s.model() and loaded.settings.shape_size == SHAPE
    assert all(np.array_equal(a, b) for a, b in zip(loaded.weights, weights))
    model = util.get_keras().models.load_model(path, compile=False)
    through_keras, record = DetailFamily.from_keras_model(model, s.model())
    assert all(np.array_equal(a, b) for a, b in zip(through_keras, weights)) and record["family"] == "detail"


def test_the_keras_engine_equals_numpy_for_shape_times_detail(tiny_models):
    """Each digit: its tiny GRU of the 6x6 shape times one random detail model of 14x14,
    over the 9 shifts; the detail term is computed once for all digits."""
    s = tiny_detail()
    detail, _ = random_detail(s, seed=6)
    models = [[ShapeThenDetail(util.load_net(util.model_path(tiny_models, d), d), detail)] for d in range(10)]
    images, _ = synthetic_digits(2, seed=7)
    run = dataclasses.replace(s, cascade_margin=0.0)
    numpy = util.mixture_log_likelihoods(models, images, util.latents(1), dataclasses.replace(run, classify_engine="numpy"))
    keras = util.mixture_log_likelihoods(models, images, util.latents(1),
                                         dataclasses.replace(run, classify_engine="keras", classify_batch=16))
    np.testing.assert_allclose(keras, numpy, rtol=2e-5)
    levels = util.preprocess(images, SIZE, 6)
    shape_only = np.stack([m[0].shape.log_likelihoods(shape_of(levels, SHAPE)) for m in models], 1)
    own = models[0][0].log_likelihoods(levels) - shape_only[:, 0]
    np.testing.assert_allclose(models[3][0].log_likelihoods(levels) - shape_only[:, 3], own, rtol=1e-6)
    assert (own < 0).all() and np.ptp(shape_only) > 1                  # the detail is the same for every digit


def test_a_detail_model_per_digit_starts_from_the_shared_one_and_each_digit_reads_its_own(tmp_path):
    """detail_per_digit: train_mnist.py's jobs are one per digit, on that digit's images, each
    starting from the shared model_all; loading pairs each digit's shape models with its own
    detail model, which the numpy path and the keras engine read alike."""
    s = dataclasses.replace(util.settings_for("pixelcnn28"), target_size=SIZE, pixelcnn_filters=8,
                            pixelcnn_blocks=2, models_dir=str(tmp_path / "digits"))
    shared, per_digit = str(tmp_path / "shared"), [random_detail(s, seed=20 + d)[1] for d in range(10)]
    os.makedirs(shared)
    os.makedirs(s.models_dir)
    start = random_detail(s, seed=19)[1]
    util.save_model(util.model_path(shared, "all"), start, s, dict(digit="all"))
    data = synthetic_mnist()
    flags = types.SimpleNamespace(all_digits=True, digit=0, num_images=None, skip_existing=False, resume=False,
                                  init_models=shared)
    jobs = util.training_jobs(s, flags, data)
    assert [j["digit"] for j in jobs] == list(range(10)) and [j["train_images"] for j in jobs] == [12] * 10
    assert all(np.array_equal(a, b) for j in jobs for a, b in zip(j["init"], start))
    for d in range(10):
        util.save_model(util.model_path(s.models_dir, d), per_digit[d], s, dict(digit=d))
    models = util.load_models(s)
    files = modelfiles.model_files(s)                                   # what `no digit`'s cache key reads
    assert files[-10:] == [util.model_path(s.models_dir, d) for d in range(10)] and all(map(os.path.exists, files))
    assert [len(m) for m in models] == [3] * 10 and all(
        np.array_equal(net.detail.weights[0], per_digit[d][0]) for d, nets in enumerate(models) for net in nets)
    images, _ = synthetic_digits(1, seed=21)
    run = dataclasses.replace(s, cascade_margin=0.0, cascade_sets_margin=0.0)
    numpy = util.mixture_log_likelihoods(models, images, util.latents(0), dataclasses.replace(run, classify_engine="numpy"))
    keras = util.mixture_log_likelihoods(models, images, util.latents(0),
                                         dataclasses.replace(run, classify_engine="keras", classify_batch=16))
    np.testing.assert_allclose(keras, numpy, rtol=2e-5)
    levels = util.preprocess(images, SIZE, 6)
    details = np.stack([m[0].detail_terms(levels, 512, 1, 0.0) for m in models], 1)
    assert np.ptp(details, axis=1).min() > 1e-3                          # each digit's detail term is its own
    os.remove(util.model_path(s.models_dir, 7))
    with pytest.raises(util.UserError, match="--digit=7 --profile=pixelcnn28"):
        util.load_models(s)


def test_shape_and_detail_that_do_not_fit_are_refused(tiny_models):
    detail, _ = random_detail(tiny_detail(shape_size=5))
    with pytest.raises(util.UserError, match="takes 5x5 shapes"):
        ShapeThenDetail(util.load_net(util.model_path(tiny_models, 0), 0), detail)
    with pytest.raises(util.UserError, match="needs a `shape` profile"):
        import config
        config.experiments["odd"] = {"family": "detail"}
        try:
            util.settings_for("odd")
        finally:
            del config.experiments["odd"]


def run(script, *args, env):
    return subprocess.run([sys.executable, script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_pixelcnn28_trains_draws_and_classifies_through_the_scripts(tmp_path, script_env):
    """The real profile's networks on the synthetic digits, with the shipped GRUs for the shape:
    the shared detail model (one for all digits), and the shipped per-digit ones trained from
    the shipped shared model, each on its digit's images."""
    bad = run("train_mnist.py", "--profile=pixelcnn28_shared", f"--models_dir={tmp_path / 'shared'}", "--digit=3",
              env=script_env)
    assert bad.returncode != 0 and "use --all_digits=True" in bad.stderr and "Traceback" not in bad.stderr
    shared = run("train_mnist.py", "--profile=pixelcnn28_shared", f"--models_dir={tmp_path / 'shared'}",
                 "--all_digits=True", "--epochs=1", "--quiet=True", env=script_env)
    assert shared.returncode == 0, shared.stderr
    meta = util.read_meta(util.model_path(str(tmp_path / "shared"), "all"))
    assert meta["settings"]["family"] == "detail" and meta["train_images"] == 120 and meta["digit"] == "all"
    folder = str(tmp_path / "detail")
    flags = ["--profile=pixelcnn28", f"--models_dir={folder}"]
    done = run("train_mnist.py", *flags, "--all_digits=True", "--epochs=1", "--quiet=True", env=script_env)
    assert done.returncode == 0, done.stderr
    metas = [util.read_meta(util.model_path(folder, d)) for d in range(10)]
    assert [(m["digit"], m["train_images"]) for m in metas] == [(d, 12) for d in range(10)]
    out = str(tmp_path / "grid.png")
    drawn = run("generate_mnist.py", *flags, "--digit=all", "--grid_size=2", "--seed=0", f"--output={out}", env=script_env)
    assert drawn.returncode == 0, drawn.stderr
    from PIL import Image
    assert Image.open(out).size == (2 * 32, 10 * 32)
    read = run("classification.py", *flags, "--num_images=20", "--json", "--confusion_output=none", env=script_env)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["num_images"] == 20
    mine = str(tmp_path / "mine.npz")                                   # a user's images: the `no digit`
    np.savez(mine, x=synthetic_digits(1, seed=8)[0][:3])                # thresholds read the model files too
    own = run("classification.py", *flags, f"--images={mine}", "--json", env=script_env)
    assert own.returncode == 0, own.stderr
    assert [v["verdict"] in ("digit", "no digit") for v in json.loads(own.stdout)["images"]] == [True] * 3


def test_a_completion_keeps_its_given_rows_and_a_mixture_member_may_draw_none(tiny_models):
    """The demo's completion through shape and detail: the given rows come back as they
    were; with two members and one image, one member draws none."""
    detail, _ = random_detail(tiny_detail(), seed=8)
    members = [ShapeThenDetail(util.load_net(util.model_path(tiny_models, d), d), detail) for d in (1, 2)]
    levels = np.random.default_rng(9).integers(0, 7, (3, SIZE, SIZE))
    known = np.zeros(levels.shape, bool)
    known[:, :5] = True
    shape, whole = members[0].given_shape(levels, known)
    assert whole[:, 0].all() and not whole[:, -1].any()               # the top shape rows lie in the kept rows
    for n in (1, 3):
        out = util.sample(members, n, np.random.default_rng(n), given=(levels[:n], known[:n]))
        assert out.shape == (n, SIZE, SIZE) and (out[:, :5] == levels[:n, :5]).all()
