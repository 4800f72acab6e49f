"""Training across devices (keras.distribution's DataParallel under jax): a tiny run on
two devices ends with the weights of the same run on one device. The two devices are
virtual CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=2), in
subprocesses, whichever backend runs the suite; another backend refuses in one line. The
runs train a PixelCNN: the sharding is the family's own business, and jax compiles its
graph in seconds where the GRU's 100 unrolled steps take about a minute a run."""
import os
import subprocess
import sys

import numpy as np

import util
from conftest import ROOT, without_settings


def train(models, devices, env, backend="jax"):
    env = dict(env, KERAS_BACKEND=backend, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return subprocess.run([sys.executable, os.path.join(ROOT, "train_mnist.py"), "--profile=pixelcnn", "--digit=3",
                           "--epochs=2", "--batch_size=4", f"--devices={devices}", f"--models_dir={models}",
                           "--quiet"],
                          env=env, capture_output=True, text=True, timeout=900)


def test_two_devices_train_the_weights_of_one(script_env, tmp_path):
    runs = {n: train(tmp_path / f"on{n}", n, script_env) for n in (2, 1)}
    for n, proc in runs.items():
        assert proc.returncode == 0, proc.stderr
        assert f"on {n} device(s)" in proc.stdout
    one, two = (util.read_meta(str(tmp_path / f"on{n}" / "model_3.keras")) for n in (1, 2))
    assert [h["bits_per_pixel"] for h in two["history"]] == \
        __import__("pytest").approx([h["bits_per_pixel"] for h in one["history"]], rel=1e-5)
    nets = [util.load_net(str(tmp_path / f"on{n}" / "model_3.keras"), 3) for n in (1, 2)]
    assert [net.settings.family for net in nets] == ["pixelcnn", "pixelcnn"]
    w1, w2 = (net.weights for net in nets)
    assert len(w1) == len(w2) > 10
    assert all(a.shape == b.shape and np.allclose(a, b, atol=1e-5) for a, b in zip(w1, w2))


def test_more_devices_than_one_need_jax(script_env, tmp_path):
    proc = train(tmp_path / "tf", 2, script_env, backend="tensorflow")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert without_settings(proc.stderr) == ["error: --devices=2 needs KERAS_BACKEND=jax (keras.distribution); "
                                             "this run uses tensorflow"]
    proc = train(tmp_path / "many", 4, script_env)
    assert proc.returncode == 1 and without_settings(proc.stderr)[-1].startswith("error: --devices=4, but the backend sees 2")
