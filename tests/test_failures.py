"""Writes that fail for real, in a subprocess: a file-size limit (RLIMIT_FSIZE, with
SIGXFSZ ignored, as on a full disk or a quota) placed at each kind of write, and a
read-only folder (a read-only bind mount in a private mount namespace). Each must end
in one line naming the file and the system's reason, exit 1, keep the previous file
and leave no temporary behind."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, scripts_environment, without_settings
from test_data import fake_index  # noqa: F401  (the fake package index on loopback)

# Runs a script with a file-size limit and, optionally, a smaller GRU on 6x6 images
# (config.py's constants, as a user editing them would): argv = limit units script flags...
RUNNER = """
import os, resource, runpy, signal, sys
limit, units, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, {root!r})
from pixelbayes import data as mnist
import config
if units:
    config.gru_units, config.target_size = units, 6
if "FAKE_MNIST_SHA256" in os.environ:        # the fake package index's wheel and arrays
    mnist.MNIST_WHEEL_SHA256, mnist.MNIST_ARRAYS_SHA256 = os.environ["FAKE_MNIST_SHA256"].split()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = [script] + sys.argv[4:]
runpy.run_path(script, run_name="__main__")
""".format(root=ROOT)


def run_limited(limit, script, *flags, env, units=0, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-c", RUNNER, str(limit), str(units),
                           os.path.join(ROOT, script), *flags],
                          env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


def one_line_error(proc, *words, notes=0):
    """Exit 1 and one error line (after `notes` lines of progress), naming the words."""
    assert proc.returncode == 1, proc.stderr
    lines = without_settings(proc.stderr)
    assert len(lines) == notes + 1 and lines[-1].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


def files(folder):
    return sorted(os.listdir(folder))


def training_flags(folder):
    return ["--digit=0", "--num_images=10", "--epochs=1", f"--models_dir={folder}", "--quiet"]


@pytest.fixture(scope="module")
def trained_once(fake_mnist_npz, tmp_path_factory):
    """Digit 0's model (GRU 8, sizes: checkpoint about 13 kB, model file about 20 kB) and
    its learning curve, trained once without limits."""
    folder = tmp_path_factory.mktemp("trained") / "models"
    env = scripts_environment(fake_mnist_npz, folder.parent)
    assert run_limited(0, "train_mnist.py", *training_flags(folder), env=env, units=8).returncode == 0
    return folder


@pytest.fixture
def trained(trained_once, tmp_path):
    """A copy of that folder of this test's own, its flags, and its model file's bytes."""
    folder = tmp_path / "models"
    shutil.copytree(trained_once, folder)
    return folder, training_flags(folder), (folder / "model_0.keras").read_bytes()


@pytest.mark.parametrize("limit,failing", [(4000, ".training.ckpt.npz"), (16000, "model_0.keras")])
def test_training_under_a_file_size_limit(trained, script_env, limit, failing):
    folder, flags, old = trained
    before = files(folder)
    proc = run_limited(limit, "train_mnist.py", *flags[:2], "--epochs=2", *flags[3:], env=script_env, units=8)
    one_line_error(proc, f"cannot write {folder / failing}", "File too large")
    assert (folder / "model_0.keras").read_bytes() == old
    left = files(folder)
    assert not [f for f in left if ".tmp" in f]
    assert [f for f in left if not f.startswith(".training.ckpt")] == before
    if failing == "model_0.keras":                          # the run's checkpoint survives: resumable
        assert ".training.ckpt.json" in left


def test_pictures_under_a_file_size_limit(trained, tiny_models, script_env, tmp_path):
    folder, _, _ = trained
    png, cm = tmp_path / "grid.png", tmp_path / "cm.png"
    common = [f"--models_dir={folder}", "--digit=0", f"--output={png}", "--output_size=64"]
    assert run_limited(0, "generate_mnist.py", *common, "--seed=1", env=script_env).returncode == 0
    old = png.read_bytes()
    assert png.stat().st_size > 1500                         # the limit below stops it half way
    proc = run_limited(1000, "generate_mnist.py", *common, "--seed=2", env=script_env)
    one_line_error(proc, f"cannot write {png}", "File too large")
    assert png.read_bytes() == old
    proc = run_limited(3000, "classification.py", f"--models_dir={tiny_models}", f"--confusion_output={cm}",
                       "--num_images=20", env=script_env)
    one_line_error(proc, f"cannot write {cm}", "File too large")
    assert files(tmp_path) == ["grid.png", "models"]


def test_mnist_cache_under_a_file_size_limit(fake_index, tiny_models, tmp_path):
    from pixelbayes import data as mnist
    env = dict(os.environ, FAKE_MNIST_SHA256=f"{mnist.MNIST_WHEEL_SHA256} {mnist.MNIST_ARRAYS_SHA256}")
    proc = run_limited(10000, "classification.py", f"--models_dir={tiny_models}", "--confusion_output=none", env=env)
    cache = os.environ["MNIST_CACHE"]
    one_line_error(proc, f"cannot write {cache}", "File too large", notes=2)    # notes: "not cached", "fetching ..."
    assert files(os.path.dirname(cache)) == []


def read_only(folder):
    """Run a command with `folder` mounted read-only, in a private mount namespace."""
    return ["unshare", "-rm", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]


def test_read_only_folders(trained, script_env, tmp_path):
    folder, flags, old = trained
    proc = run_limited(0, "train_mnist.py", *flags, env=script_env, units=8, prefix=read_only(folder))
    one_line_error(proc, f"cannot write {folder / '.training.ckpt.npz'}", "Read-only file system")
    assert (folder / "model_0.keras").read_bytes() == old and not [f for f in files(folder) if ".tmp" in f]
    out = tmp_path / "pictures"
    out.mkdir()
    proc = run_limited(0, "generate_mnist.py", f"--models_dir={folder}", f"--output={out / 'g.png'}",
                       env=script_env, prefix=read_only(out))
    one_line_error(proc, f"cannot write {out / 'g.png'}", "Read-only file system")
    proc = run_limited(0, "train_mnist.py", *flags[:3], f"--models_dir={out / 'new'}", "--quiet",
                       env=script_env, units=8, prefix=read_only(out))
    one_line_error(proc, f"cannot create folder {out / 'new'}", "Read-only file system")
    assert files(out) == []
