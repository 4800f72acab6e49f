"""Is it a digit at all? A generative classifier has what a discriminative one lacks: the
evidence log p(x) = log sum_k p(k) p(x | k), how well any digit model explains the image.
Likelihood models can give simple images more likelihood than their own data (a blank
image explains itself better than most digits do here; Nalisnick et al. 2019, "Do deep
generative models know what they don't know?"), so a second score is a likelihood ratio
against a background model (Ren et al. 2019), the background being a general-purpose
compressor, as Serra et al. (2020, "Input complexity and out-of-distribution detection
with likelihood-based generative models") propose: log p(x) - log p_zlib(x), where
-log2 p_zlib(x) is the length in bits of the image's levels compressed by zlib. An image
with no ink at all is `no digit`; so is one below what all but a small share of the
held-out training digits of its nearest digit reach, on either score. A compressor finds a
ruled straight 1 simpler than any handwritten one, so the compressor's credit is capped:
an image simpler than a typical held-out digit of its nearest digit (FLOOR) is judged by
how well the models explain it, not by how simple it is (a blank image has no ink). The
held-out scores of a set of models are computed once and cached beside the MNIST cache,
keyed by the model files' contents, the latent transforms and the robust settings; the
test set is never read."""
import hashlib
import os
import sys

import numpy as np

from .data import mnist_cache_path
from .errors import UserError
from .files import atomic_write, make_folder
from .modelfiles import model_files
from .splits import digit_split

SCORES = ("log_px", "log_ratio")
VERSION = "scores-4"                 # part of the cache key: a change of the scores is a new entry
FLOOR = 0.5                          # the compressor's credit stops at the bits of a typical held-out
                                     # image of the nearest digit (this quantile of their bits)


def log_evidence(loglik, priors):
    """log p(x) in nats for each image: log sum_k p(k) p(x | k)."""
    from scipy.special import logsumexp
    return logsumexp(loglik + priors[None, :], axis=1)


def compressed_bits(levels):
    """-log2 p_zlib(x): the length in bits of each image's levels (n, size, size) as bytes,
    compressed by zlib at its highest level."""
    import zlib
    flat = np.asarray(levels, np.uint8).reshape(len(levels), -1)
    return np.array([8 * len(zlib.compress(row.tobytes(), 9)) for row in flat], np.float64)


def scores(loglik, priors, levels, floors=None):
    """{score name: values}: log p(x), and log p(x) - log p_zlib(x), in nats, the compressed
    bits at least the nearest digit's floor (floors, (10,); None: no floor); and "nearest",
    each image's most probable digit."""
    evidence, bits = log_evidence(loglik, priors), compressed_bits(levels)
    nearest = np.argmax(loglik + priors[None, :], 1)
    if floors is not None:
        bits = np.maximum(bits, np.asarray(floors)[nearest])
    return {"log_px": evidence, "log_ratio": evidence + bits * np.log(2), "nearest": nearest}


def held_out(data, models):
    """The training images no model of the set trained on: each digit's share that its
    first model's training held out (its validation_fraction, seed and validation_block). (x, y)."""
    net = models[0][0]
    fraction, seed, block = net.settings.validation_fraction, net.meta.get("seed", 0), net.settings.validation_block
    if not fraction:
        raise UserError("these models held out no training images (validation_fraction 0), so there is no "
                        "held-out threshold for `no digit`; use --reject=0")
    held = digit_split(data["y_train"], fraction, seed, block)[1]
    return data["x_train"][held], np.asarray(data["y_train"][held], np.int64)


def _cache_key(settings, transforms, digits=range(10)):
    robust = [settings.canonical_form, settings.outlier_share] if settings.canonical_form or settings.outlier_share else []
    robust += ["strokes"] if settings.canonical_form and settings.even_strokes else []
    h = hashlib.sha256(repr([VERSION, settings.cascade_margin] + [settings.cascade_sets_margin] * bool(settings.cascade_sets_margin)
                                + [t.name for t in transforms] + robust).encode())
    for path in model_files(settings, digits):
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:24]


def reference(settings, models, transforms, data, compute, levels_of):
    """What `no digit` is judged against, cached after the first call: the held-out images'
    scores and nearest digits, and each digit's floor of compressed bits. compute(images)
    -> log p(x | k); levels_of(images) -> the images as the models read them."""
    path = os.path.join(os.path.dirname(mnist_cache_path()), "held_out_scores",
                        _cache_key(settings, transforms) + ".npz")
    if os.path.exists(path):
        try:
            with np.load(path) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError):
            pass                                         # damaged: computed again
    x, _ = held_out(data, models)
    print(f"computing the `no digit` thresholds once, on {len(x)} held-out training images "
          f"(cached in {os.path.dirname(path)})", file=sys.stderr)
    counts = np.bincount(data["y_train"], minlength=10)
    loglik, levels, priors = compute(x), levels_of(x), np.log(counts / counts.sum())
    plain = scores(loglik, priors, levels)
    bits, near = compressed_bits(levels), plain["nearest"]
    floors = np.array([np.quantile(bits[near == d], FLOOR) if np.any(near == d) else 0.0 for d in range(len(counts))])
    ref = dict(scores(loglik, priors, levels, floors), floors=floors)
    make_folder(os.path.dirname(path))
    atomic_write(path, lambda tmp: np.savez(tmp, **ref), suffix=".npz")
    return ref


def thresholds(ref, quantile):
    """{score: for each digit, the value that all but quantile / 2 of the held-out images
    nearest that digit reach} (a digit no held-out image is nearest: all of them): together
    at most about `quantile` of them are `no digit`. Empty for quantile 0 (no rejection)."""
    if quantile <= 0:
        return {}
    near = ref["nearest"]
    return {k: [float(np.quantile(ref[k][near == d] if np.any(near == d) else ref[k], quantile / 2))
                for d in range(len(ref["floors"]))] for k in SCORES}


def judged(values, limits, inked):
    """For each image, the reasons it is `no digit` (empty: a digit): "no_ink" where inked
    is False, and each score below its nearest digit's limit."""
    if not limits:
        return [[] for _ in inked]                   # --reject=0: never
    return [(["no_ink"] if not ink else []) + [k for k, limit in limits.items() if values[k][i] < limit[near]]
            for i, (near, ink) in enumerate(zip(values["nearest"], inked))]


def verdicts(names, loglik, priors, values, low, num_pixels):
    """One dict per image: the digit (None for `no digit`: low[i], the reasons, not empty),
    the nearest digit (the most probable, a digit or not) and its posterior, the runner-up,
    bits per pixel under the nearest digit's model, the scores, and the verdict."""
    from .inference import posteriors
    post = posteriors(loglik, priors)
    order = np.argsort(-post, axis=1, kind="stable")
    out = []
    for i, name in enumerate(names):
        best, second = (int(k) for k in order[i, :2])
        out.append(dict(image=name, digit=None if low[i] else best, nearest=best, probability=round(float(post[i, best]), 4), runner_up=second,
                        runner_up_probability=round(float(post[i, second]), 4),
                        bits_per_pixel=round(float(-loglik[i, best] / num_pixels / np.log(2)), 4),
                        **{k: round(float(values[k][i]), 2) for k in SCORES},
                        verdict="no digit" if low[i] else "digit", low_scores=low[i]))
    return out
