"""The PixelCNN family: its masks hide exactly what they must, its sampler's
probabilities are the full network's, its files round-trip (also into another Keras
backend), and a tiny run trains, samples and classifies, through util and the scripts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import config
from pixelbayes.families import pixelcnn
from pixelbayes.families import base
from pixelbayes import training
from pixelbayes import modelfiles
import util
from conftest import ROOT, small, stepwise_probabilities
from test_family import self_transitions, stripes


def tiny(**changes):
    return small(**dict(dict(family="pixelcnn", pixelcnn_filters=8, pixelcnn_blocks=1), **changes))


def random_net(settings, seed=0):
    """A net with the Keras form's initial weights, perturbed so that no bias is zero."""
    util.get_keras().utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    weights = [w + rng.normal(0, 0.1, w.shape).astype(np.float32)
               for w in util.PixelCNNFamily.keras_model(settings).get_weights()]
    return util.NumpyPixelCNN(weights, settings.model()), weights


def keras_probabilities(weights, settings, levels):
    """The saved Keras form's softmax for each pixel of levels (n, h, w): (n, h*w, levels)."""
    model = util.PixelCNNFamily.keras_model(settings)
    model.set_weights(weights)
    onehot = np.eye(settings.levels, dtype=np.float32)[levels]
    return util.get_keras().ops.convert_to_numpy(model(onehot)).reshape(len(levels), -1, settings.levels)


def graph_log_probabilities(weights, settings, levels):
    """The side-by-side training graph's log-softmax, the same weights in both columns."""
    graph = training.build_group_model(settings, 2)
    for g in range(2):
        for var, value in zip(graph.get_layer("side_by_side").per_model[g], weights):
            var.assign(value)
    pixels = np.repeat(levels.reshape(len(levels), 1, -1), 2, axis=1).astype(np.int32)
    logits = util.get_keras().ops.convert_to_numpy(graph(pixels))
    np.testing.assert_allclose(logits[:, 0], logits[:, 1], atol=1e-5)     # two columns, one model
    return util.log_softmax(logits[:, 0].astype(np.float64), axis=-1)


def test_the_masks_keep_the_rows_above_and_the_pixels_to_the_left():
    a, b = pixelcnn.causal_mask(7, "A"), pixelcnn.causal_mask(3, "B")
    assert a.sum() == 3 * 7 + 3 and a[3, 3] == 0 and a[:3].all() and a[3, :3].all() and not a[3, 4:].any()
    assert not a[4:].any()
    np.testing.assert_array_equal(b, [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    assert pixelcnn.causal_mask(1, "B").sum() == 1 and pixelcnn.causal_mask(1, "A").sum() == 0


def reach(layers, size=10):
    """Which logits pixel t can reach, (pixel t, position): the network's wiring run in
    numpy with every kernel weight 1, every bias 0 and image t the indicator of pixel t.
    All terms are non-negative, so a sum is exactly 0 when every term is 0 and positive
    otherwise, in any summation order: the answer does not depend on the BLAS kernel."""
    ones = [np.ones(shape, np.float32) if len(shape) == 4 else np.zeros(shape, np.float32)
            for name, k, mask, cin, cout in layers for shape in ((k, k, cin, cout), (cout,))]
    x = np.zeros((size * size, size, size, layers[0][3]), np.float32)
    t = np.arange(size * size)
    x[t, t // size, t % size] = 1
    out = pixelcnn.pixelcnn_logits(pixelcnn._NumpyOps, pixelcnn.numpy_masked_conv, ones, x, layers)
    return out.reshape(size * size, size * size, -1).max(-1) > 0


def test_changing_pixel_t_changes_no_logit_at_or_before_t():
    s = tiny(pixelcnn_filters=16, pixelcnn_blocks=2)
    t = np.arange(100)
    right, below = t[t % 10 < 9], t[t < 90]                         # the pixels after t that see it
    seen = reach(util.PixelCNNFamily.layers(s))
    assert not seen[np.tril_indices(100)].any()                     # nothing at or before the pixel
    assert seen[right, right + 1].all() and seen[below, below + 10].all()
    # the same with real weights, in each implementation: a change of pixel t moves no
    # logit at or before t by more than float32 rounding (the rows of one matrix product
    # may be summed in different orders), and moves those after it that see it
    net, weights = random_net(s)
    base = np.random.default_rng(1).integers(0, 7, (10, 10))
    changed = np.repeat(base[None], 100, axis=0)
    changed[t, t // 10, t % 10] = (base.reshape(-1) + 3) % 7       # image t differs at pixel t only
    images = np.concatenate([base[None], changed])
    per_net = net.logits(images).reshape(101, 100, -1)
    per_keras = np.log(keras_probabilities(weights, s, images))
    per_graph = graph_log_probabilities(weights, s, images)
    for name, out in (("numpy", per_net), ("keras", per_keras), ("graph", per_graph)):
        diff = np.abs(out[1:] - out[:1]).max(-1)                    # (perturbed pixel, position)
        assert diff[np.tril_indices(100)].max() <= 1e-5, name       # logits of size ~1: float32 noise ~1e-7
        assert min(diff[right, right + 1].min(), diff[below, below + 10].min()) > 1e-4, name


def test_a_first_kernel_of_19_sees_every_earlier_pixel_where_7_leaves_a_blind_spot():
    """At 10x10 the walkthrough's 7x7 mask A, with the 3x3 mask-B blocks after it, leaves
    pixels to the upper right unseen (pixel 10, the second row's first, never sees pixels
    4 to 9 of the row above); a 19x19 first layer sees every pixel before each one."""
    narrow = reach(pixelcnn.pixelcnn_layers(16, 6, 7))
    wide = reach(pixelcnn.pixelcnn_layers(16, 2, 7, first_kernel=19))
    earlier = np.triu_indices(100, 1)                               # (pixel, a later position)
    assert wide[earlier].all() and not wide[np.tril_indices(100)].any()
    assert not narrow[np.tril_indices(100)].any() and not narrow[4:10, 10].any() and narrow[:4, 10].all()


@pytest.mark.parametrize("first", [7, 19])
def test_the_samplers_probabilities_are_the_full_networks(first):
    s = tiny(pixelcnn_filters=16, pixelcnn_blocks=2, pixelcnn_first_kernel=first)
    net, weights = random_net(s, seed=3)
    levels = np.random.default_rng(2).integers(0, 7, (4, 10, 10))
    steps = stepwise_probabilities(net, levels)
    np.testing.assert_allclose(steps, keras_probabilities(weights, s, levels), atol=2e-5)
    np.testing.assert_allclose(np.log(steps), graph_log_probabilities(weights, s, levels), atol=2e-5)
    ll = np.log(np.take_along_axis(steps, levels.reshape(4, -1, 1), -1)[..., 0]).sum(1)
    np.testing.assert_allclose(net.log_likelihoods(levels, chunk=3, workers=2), ll, rtol=1e-6)
    np.testing.assert_allclose(base.PixelNet.log_likelihoods(net, levels), ll, rtol=1e-6)
    # no images at all (a mixture's member that draws none): empty results, no error
    assert util.sample([net], 0, np.random.default_rng(0)).shape == (0, 10, 10)
    assert net.log_likelihoods(np.zeros((0, 10, 10), np.int64)).shape == (0,)


@pytest.mark.parametrize("first", [7, 19])
def test_a_saved_model_round_trips(tmp_path, first):
    s = tiny(pixelcnn_blocks=2, pixelcnn_first_kernel=first)
    net, weights = random_net(s, seed=5)
    path = str(tmp_path / "model_4.keras")
    util.save_model(path, weights, s, dict(digit=4))
    assert modelfiles.read_weights(path, util.PixelCNNFamily) is not None      # read without Keras
    assert util.read_meta(path)["format"] == "pixelbayes-pixelcnn/3"           # its family's name, not gru's
    loaded = util.load_net(path, digit=4)
    assert isinstance(loaded, util.NumpyPixelCNN) and loaded.settings == s.model()
    assert all(np.array_equal(a, b) for a, b in zip(loaded.weights, weights))
    model = util.get_keras().models.load_model(path, compile=False)
    assert [l.__class__.__name__ for l in model.layers].count("MaskedConv2D") == 1 + 2 + 2   # A, a B per block, two 1x1 B
    levels = np.random.default_rng(0).integers(0, 7, (3, 10, 10))
    probs = util.get_keras().ops.convert_to_numpy(model(np.eye(7, dtype=np.float32)[levels]))
    np.testing.assert_allclose(probs.reshape(3, 100, 7), stepwise_probabilities(loaded, levels), atol=2e-5)
    with pytest.raises(util.UserError, match="holds the model of digit 4"):
        util.load_net(path, digit=3)


def test_a_pixelcnn_file_said_to_read_slice_by_slice_is_refused(tmp_path):
    """settings_for refuses such a profile; a file recording it (made by hand) is refused
    when loaded: its convolutions need neighbouring pixels side by side."""
    import dataclasses
    s = tiny()
    _, weights = random_net(s, seed=7)
    path = str(tmp_path / "model_2.keras")
    util.save_model(path, weights, dataclasses.replace(s, scan="subscale"), dict(digit=2))
    with pytest.raises(util.UserError, match="model_2.keras records scan='subscale' for the pixelcnn family"):
        util.load_net(path, digit=2)
    util.save_model(path, weights, dataclasses.replace(s, scan="columns"), dict(digit=2))
    assert util.load_net(path, digit=2).settings.scan == "columns"


def test_a_file_laid_out_otherwise_loads_through_keras(tmp_path, monkeypatch):
    s = tiny()
    _, weights = random_net(s, seed=6)
    path = str(tmp_path / "model_0.keras")
    util.save_model(path, weights, s, dict(digit=0))
    monkeypatch.setattr(util.PixelCNNFamily, "file_weights", staticmethod(lambda layers: ["no/such/weights"]))
    assert modelfiles.read_weights(path, util.PixelCNNFamily) is None
    net = util.load_net(path, digit=0, settings=s)           # through keras.models.load_model
    assert net.settings == s.model() and all(np.array_equal(a, b) for a, b in zip(net.weights, weights))


# Under the other backend, Keras loads the file (util registers MaskedConv2D) and prints
# the softmax of every pixel of the given images.
CHECK = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
import util
keras = util.get_keras()
levels = np.array(json.loads(sys.argv[2]))
model = keras.models.load_model(sys.argv[1], compile=False)
probs = keras.ops.convert_to_numpy(model(np.eye(7, dtype=np.float32)[levels]))
print(json.dumps(dict(backend=keras.backend.backend(), probs=probs.tolist())))
"""


def test_a_tiny_run_trains_samples_and_classifies(tmp_path, script_env):
    s = tiny(epochs=15, learning_rate=2e-2)
    jobs = [dict(levels=stripes(40, k == 0, k), path=util.model_path(str(tmp_path), k), digit=k, seed=k)
            for k in range(2)]
    metas = util.train_models(jobs, s, verbose=0)
    assert metas[1]["settings"]["family"] == "pixelcnn"
    assert metas[1]["history"][-1]["bits_per_pixel"] < metas[1]["history"][0]["bits_per_pixel"]
    nets = [util.load_net(util.model_path(str(tmp_path), k), digit=k) for k in range(2)]
    test = np.concatenate([stripes(30, True, 5), stripes(30, False, 6)])
    loglik = np.stack([util.digit_log_likelihoods([net], test[None]) for net in nets], 1)
    assert np.mean(util.classify(loglik) == np.repeat([0, 1], 30)) >= 0.95
    rows, columns = (util.sample([net], 50, np.random.default_rng(0)) for net in nets)
    assert self_transitions(rows) > 0.5 > 0.25 > self_transitions(columns)   # each draws its own kind
    # the file trained here loads and computes the same under the other backend
    other = {"tensorflow": "jax"}.get(util.get_keras().backend.backend(), "tensorflow")
    proc = subprocess.run([sys.executable, "-c", CHECK.format(root=ROOT), util.model_path(str(tmp_path), 1),
                           json.dumps(test[:3].tolist())], env=dict(script_env, KERAS_BACKEND=other),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["backend"] == other
    np.testing.assert_allclose(np.array(res["probs"]).reshape(3, 100, 7), stepwise_probabilities(nets[1], test[:3]),
                               atol=2e-5)


def test_the_scripts_run_the_pixelcnn_profile(tmp_path, monkeypatch, fake_mnist_npz, capsys):
    import classification
    import generate_mnist
    import train_mnist
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    monkeypatch.setitem(config.profiles, "pixelcnn", dict(config.profiles["pixelcnn"], pixelcnn_filters=8,
                                                          pixelcnn_blocks=1))
    models = str(tmp_path / "models")
    train_mnist.main(["--profile=pixelcnn", "--all_digits=True", "--epochs=1", f"--models_dir={models}", "--quiet"])
    assert len([f for f in os.listdir(models) if f.endswith(".keras")]) == 10
    assert util.read_meta(util.model_path(models, 7))["settings"]["pixelcnn_filters"] == 8
    generate_mnist.main(["--profile=pixelcnn", "--digit=3", f"--models_dir={models}", f"--output={tmp_path / 'g.png'}"])
    classification.main(["--profile=pixelcnn", "--num_images=60", f"--models_dir={models}", "--confusion_output=none"])
    out = capsys.readouterr()
    assert "family=pixelcnn" in out.err and "Classification accuracy on a test set: " in out.out
    assert os.path.getsize(tmp_path / "g.png") > 0


@pytest.mark.parametrize("kernel_size,mask_type", [(7, "A"), (3, "B"), (3, None), (1, "B")])
def test_the_numpy_masked_convolution_is_keras_conv_with_the_masked_kernel(kernel_size, mask_type):
    rng = np.random.default_rng(kernel_size)
    x = rng.normal(size=(3, 10, 10, 5)).astype(np.float32)
    kernel = rng.normal(size=(kernel_size, kernel_size, 5, 4)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    ops = util.get_keras().ops
    masked = kernel * pixelcnn.causal_mask(kernel_size, mask_type)[:, :, None, None]
    expected = ops.convert_to_numpy(ops.conv(x, masked, padding="same")) + bias
    np.testing.assert_allclose(pixelcnn.numpy_masked_conv(x, kernel, bias, kernel_size, mask_type), expected, atol=1e-4)
