"""A second model family, added through the family interface alone: a toy Markov chain
over pixels in reading order, p(x_t | x_{t-1}) = softmax(E[x_{t-1}] + b), with b alone
for the first pixel. It trains side by side, saves, loads, samples and classifies with
util's own functions and the unchanged scripts, chosen by the settings' `family` field."""
import os

import numpy as np
import pytest

import config
from pixelbayes.families import base
from pixelbayes import training
import util
from conftest import small


class MarkovNet(base.PixelNet):
    def __init__(self, weights, settings, meta=None):
        super().__init__(settings, meta)
        self.table, self.bias = [np.asarray(w, np.float32) for w in weights]

    def start(self, n):
        return np.full(n, -1)                  # the previous pixel; -1: none yet

    def step(self, previous, pixels):
        return previous if pixels is None else np.asarray(pixels)

    def log_probs(self, previous):
        logits = np.where(previous[:, None] >= 0, self.table[np.maximum(previous, 0)], 0) + self.bias
        return util.log_softmax(logits, axis=1)


class MarkovFamily:
    name = "markov"
    fields = ()
    Net = MarkovNet

    @staticmethod
    def file_weights(layers):
        return ["layers/dense/vars/0", "layers/dense/vars/1"]

    @staticmethod
    def weight_layout(s):
        return [((s.levels, s.levels), "glorot_uniform"), ((s.levels,), "zeros")]

    @staticmethod
    def keras_model(s):
        keras = util.get_keras()
        return keras.Sequential([keras.Input((None, s.levels)),
                                 keras.layers.Dense(s.levels, activation="softmax", name="pixel_softmax")])

    @staticmethod
    def forward(ops, w, pixels, s):
        table, bias = w
        x = ops.concatenate([ops.zeros_like(pixels[..., :1]), pixels[..., :-1] + 1], axis=-1)
        onehot = ops.one_hot(x, s.levels + 1)[..., 1:]               # the start input is all zero
        return ops.einsum("bgtc,gcd->bgtd", onehot, table) + bias[None, :, None, :]

    @staticmethod
    def accepts(layers):
        return [l["class_name"] for l in layers if l["class_name"] != "InputLayer"] == ["Dense"]

    @staticmethod
    def custom_objects():
        return {}


@pytest.fixture
def markov(monkeypatch):
    monkeypatch.setitem(util.FAMILIES, "markov", MarkovFamily)
    monkeypatch.setitem(config.profiles, "markov", {"family": "markov"})
    return small(family="markov", epochs=8, learning_rate=5e-2, gru_units=1)


def stripes(n, horizontal, seed):
    """10x10 levels: bright and dark stripes, along the rows or across them, with noise."""
    rng = np.random.default_rng(seed)
    bright = (np.arange(10)[:, None] % 2 == 0) if horizontal else (np.arange(10)[None, :] % 2 == 0)
    levels = np.where(np.broadcast_to(bright, (n, 10, 10)), 6, 0)
    noise = rng.random((n, 10, 10)) < 0.1
    return np.where(noise, rng.integers(0, 7, (n, 10, 10)), levels).astype(np.uint8)


def self_transitions(levels):
    flat = levels.reshape(len(levels), -1)
    return np.mean(flat[:, 1:] == flat[:, :-1])


def test_a_new_family_trains_samples_and_classifies_through_the_interface(markov, tmp_path):
    jobs = [dict(levels=stripes(40, k == 0, k), path=util.model_path(str(tmp_path), k), digit=k, seed=k)
            for k in range(2)]
    metas = util.train_models(jobs, markov, verbose=0)
    assert metas[0]["settings"]["family"] == "markov" and metas[1]["history"][-1]["bits_per_pixel"] < 1.5
    nets = [util.load_net(util.model_path(str(tmp_path), k), digit=k) for k in range(2)]
    assert all(isinstance(net, MarkovNet) for net in nets)
    test = np.concatenate([stripes(30, True, 5), stripes(30, False, 6)])
    labels = np.repeat([0, 1], 30)
    loglik = np.stack([util.digit_log_likelihoods([net], test[None]) for net in nets], 1)
    assert np.mean(util.classify(loglik) == labels) >= 0.95
    rows, columns = (util.sample([net], 50, np.random.default_rng(0)) for net in nets)
    assert self_transitions(rows) > 0.5 > 0.25 > self_transitions(columns)   # each draws its own kind
    # the stepwise log-probabilities equal the training graph's softmax (same weights)
    graph = training.build_group_model(markov, 1)
    for var, value in zip(graph.get_layer("side_by_side").per_model[0], [nets[1].table, nets[1].bias]):
        var.assign(value)
    y = test[:4].reshape(4, 1, 100).astype(np.int32)
    logits = util.get_keras().ops.convert_to_numpy(graph(y))[:, 0]
    state, pixels = nets[1].start(4), None
    for t in range(100):
        state = nets[1].step(state, pixels)
        np.testing.assert_allclose(nets[1].log_probs(state), util.log_softmax(logits[:, t], axis=1), atol=1e-5)
        pixels = y[:, 0, t]


def test_the_scripts_run_the_new_family_by_its_profile(markov, tmp_path, monkeypatch, fake_mnist_npz, capsys):
    import classification
    import generate_mnist
    import train_mnist
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    models = str(tmp_path / "models")
    train_mnist.main(["--profile=markov", "--all_digits=True", "--epochs=2", f"--models_dir={models}", "--quiet"])
    assert len([f for f in os.listdir(models) if f.endswith(".keras")]) == 10
    generate_mnist.main(["--profile=markov", "--digit=3", f"--models_dir={models}", f"--output={tmp_path / 'g.png'}"])
    classification.main(["--profile=markov", "--num_images=60", f"--models_dir={models}", "--confusion_output=none"])
    out = capsys.readouterr()
    assert "family=markov" in out.err and "Classification accuracy on a test set: " in out.out
    assert os.path.getsize(tmp_path / "g.png") > 0
