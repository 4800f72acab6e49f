"""Shared fixtures: a small synthetic MNIST-like dataset, and tiny trained models.

Nothing here touches the network or the checkout's trained/ and generated/ folders.
"""
import os
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


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Ten small models (GRU 16) trained for a few epochs on the synthetic digits."""
    folder = tmp_path_factory.mktemp("models")
    data = synthetic_mnist()
    jobs = [dict(levels=util.preprocess(data["x_train"][data["y_train"] == d]),
                 path=util.model_path(str(folder), d), digit=d, seed=0) for d in range(10)]
    util.train_models(jobs, epochs=2, batch_size=8, units=16, learning_rate=1e-2,
                      validation_fraction=0, verbose=0)
    return str(folder)


@pytest.fixture
def script_env(fake_mnist_npz, tmp_path):
    """Environment for running the scripts: synthetic data, a private cache, no network."""
    env = dict(os.environ, MNIST_PATH=fake_mnist_npz, MNIST_CACHE=str(tmp_path / "cache.npz"),
               MNIST_NO_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return env
