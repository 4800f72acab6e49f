"""What the benchmarks and experiments share, written once: the held-out splits, each
set's log-likelihoods per latent transform (cached on disk), the true digit's lead, the
one CNN baseline, and timings of code and of whole commands. No script imports another;
they all import this."""
import os
import subprocess
import sys
import time

import numpy as np

from .modelfiles import load_models
from .preprocess import latents
from .settings import settings_for
from .splits import digit_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shapes():
    """The shift mixtures of the routes: none, the 5 shifts of a cross, the 9 of the 3x3 square."""
    square = latents(1)
    return {"none": latents(0), "cross5": [t for t in square if abs(t.dy) + abs(t.dx) <= 1], "square9": square}


def training_split(data, fraction=0.05, seed=0, block=1):
    """[(images, labels) that training used, (images, labels) it held out]: each digit's
    split of the share `fraction` with `seed`, in runs of `block` images, as train_mnist.py
    makes it (default: its own)."""
    return [(data["x_train"][i], np.asarray(data["y_train"][i], np.int64))
            for i in digit_split(data["y_train"], fraction, seed, block)]


def splits(data, fraction=0.05, seed=0, block=1):
    """{name: (images, labels)}: the test set, and the held-out share of each digit (named
    "val" for train_mnist.py's default split, else by its share, seed and runs, so cached
    terms of different splits never meet)."""
    name = "val" if (fraction, seed, block) == (0.05, 0, 1) else f"val{fraction:g}_{seed}" + f"_b{block}" * (block != 1)
    return {"test": (data["x_test"], data["y_test"]), name: training_split(data, fraction, seed, block)[1]}


def true_and_lead(loglik, labels):
    """Per image: log p(x | true digit), and its lead over the best other digit's (nats)."""
    true = loglik[np.arange(len(labels)), labels]
    return true, true - np.where(np.arange(loglik.shape[1]) == labels[:, None], -np.inf, loglik).max(1)


def log_likelihoods(profile, split, images, transforms, cache):
    """(transforms, n, 10) log p(t(x) | k) under a profile's models, each transform's
    array kept in the folder `cache` (under the profile's and the split's names) and
    computed only once."""
    from .inference import classifier_inputs
    s = settings_for(profile)
    out, models = [], None
    for t in transforms:
        stroke = f"_stroke{t.stroke}" if t.stroke else ""
        scale = f"_scale{t.scale:g}" if t.scale != 1 else ""
        path = os.path.join(cache, f"{profile}_{split}_{t.dy}_{t.dx}_{t.degrees:g}{stroke}{scale}.npy")
        if not os.path.exists(path):
            models = models or load_models(s)
            levels = classifier_inputs(images, models, [t])[0]
            np.save(path, np.stack([m[0].log_likelihoods(levels, s.classify_chunk, s.classify_workers)
                                    for m in models], 1))
        out.append(np.load(path))
    return np.stack(out)


def small_cnn(size=28, double=False, seed=0):
    """The one CNN baseline, for inputs (n, size, size, 1) in [0, 1]: 3x3 convolutions of 32
    then 64 (two of each with double), max pooling after each width, dense 128, softmax; the
    input first scaled to 28x28 (nearest) when smaller, so that every form gets the same
    network; dropout 0.3 with double. Compiled with Adam."""
    from .backend import get_keras
    keras = get_keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    layers = [keras.Input((size, size, 1))] + ([L.Resizing(28, 28, interpolation="nearest")] if size != 28 else [])
    for width in (32, 64):
        layers += [L.Conv2D(width, 3, activation="relu", padding="same")] * double
        layers += [L.Conv2D(width, 3, activation="relu"), L.MaxPooling2D()]
    drop = [L.Dropout(0.3)] * double
    model = keras.Sequential(layers + [L.Flatten()] + drop + [L.Dense(128, activation="relu")] + drop
                             + [L.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def train_cnn(images, labels, epochs=3, seed=0):
    """small_cnn trained on uint8 28x28 images, batch 128; returns images -> class probabilities."""
    model = small_cnn(seed=seed)
    model.fit(np.asarray(images, np.float32)[..., None] / 255, labels, batch_size=128, epochs=epochs, verbose=0)
    return lambda x: model.predict(np.asarray(x, np.float32)[..., None] / 255, batch_size=1000, verbose=0)


def best_of(fn, repeat=3):
    """The shortest of `repeat` wall times of fn()."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def training_rates(settings, per_digit, batch_size=32, rounds=2):
    """Training images/s of each settings' side-by-side graph of ten models on the same
    images, epochs alternating after a first that builds the graphs; each keeps its fastest."""
    from .backend import get_keras
    from .training import build_group_model, pixel_nats
    keras = get_keras()
    y = np.stack([lv.reshape(len(lv), -1) for lv in per_digit], 1).astype(np.int32)
    graphs = []
    for s in settings:
        model = build_group_model(s, len(per_digit))
        model.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0),
                      lambda t, logits: keras.ops.sum(pixel_nats(logits, t), axis=1))
        graphs.append(model)
    best = [0.0] * len(settings)
    for r in range(rounds + 1):
        for i, model in enumerate(graphs):
            t = time.perf_counter()
            model.fit(y, y, batch_size=batch_size, epochs=1, verbose=0)
            if r:
                best[i] = max(best[i], y.shape[0] * y.shape[1] / (time.perf_counter() - t))
    return best


_PEAK = ("import atexit, resource, runpy, sys\n"
         "def peak_kb():\n"
         "    try:\n"
         "        return [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
         "    except (OSError, IndexError):\n"
         "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
         "atexit.register(lambda: print('PEAK_KB', peak_kb(), file=sys.stderr))\n"
         "sys.argv = sys.argv[1:]\n"
         "runpy.run_path(sys.argv[0], run_name='__main__')")


def run_process(args):
    """Wall time, peak resident memory (MB) and stdout of a whole command of the suite
    (a script and its flags, run from the repository's root). Its own high-water mark
    (VmHWM): getrusage's maxrss would include the calling process, which Linux carries
    across the child's fork and exec."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    peak = [int(l.split()[1]) for l in proc.stderr.splitlines() if l.startswith("PEAK_KB")]
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
    return wall, (peak[0] / 1024 if peak else float("nan")), proc.stdout
