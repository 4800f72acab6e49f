"""The held-out share: which of a digit's training images a model did not train on. One
draw, written once: training holds it out to pick the best epoch, and the `no digit`
thresholds and the benchmarks read the same images back from what a model file records."""
import numpy as np

from .settings import ModelSettings


def split_validation(n, fraction_held, seed, block=1):
    """Indices (train, validation) of n images; the validation share is held out, drawn in
    runs of `block` consecutive images (whole runs in a random order, the last one cut to
    the share; block 1: image by image, the same draw as before the setting existed)."""
    runs = np.random.default_rng(seed).permutation(-(-n // block))
    order = (runs[:, None] * block + np.arange(block)).ravel()
    order = order[order < n]
    n_val = int(round(n * fraction_held)) if fraction_held > 0 else 0
    if fraction_held > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def digit_split(labels, fraction_held, seed, block=1):
    """(train, held-out) indices into labelled images: each digit's images, in their order,
    split as train_models splits a model's images (split_validation), digit after digit."""
    parts = [(where, split_validation(len(where), fraction_held, seed, block))
             for where in (np.flatnonzero(np.asarray(labels) == d) for d in range(10))]
    return tuple(np.concatenate([where[split[k]] for where, split in parts]) for k in (0, 1))


def recorded_split(meta):
    """(fraction, seed, block): the held-out split that a model file's meta records."""
    s = ModelSettings.from_record(meta["settings"])
    return s.validation_fraction, meta.get("seed", 0), s.validation_block
