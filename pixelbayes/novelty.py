"""Is it a digit at all? A generative classifier has what a discriminative one lacks: the
evidence log p(x) = log sum_k p(k) p(x | k), how well any digit model explains the image.
Likelihood models can give simple images more likelihood than their own data (a blank
image explains itself better than most digits do here; Nalisnick et al. 2019, "Do deep
generative models know what they don't know?"), so a second score is a likelihood ratio
against a background model (Ren et al. 2019), the background being a general-purpose
compressor, as Serra et al. (2020, "Input complexity and out-of-distribution detection
with likelihood-based generative models") propose: log p(x) - log p_zlib(x), where
-log2 p_zlib(x) is the length in bits of the image's levels compressed by zlib. An image
below what all but a small share of the held-out training digits reach, on either score,
is `no digit`. The held-out scores of a set of models are computed once and cached beside
the MNIST cache, keyed by the model files' contents and the latent transforms; the test
set is never read."""
import hashlib
import os
import sys

import numpy as np

from .data import mnist_cache_path
from .errors import UserError
from .files import atomic_write, make_folder
from .modelfiles import model_path, model_sets
from .splits import digit_split

SCORES = ("log_px", "log_ratio")
VERSION = "scores-2"                 # part of the cache key: a change of the scores is a new entry


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


def scores(loglik, priors, levels):
    """{score name: values}: log p(x), and log p(x) - log p_zlib(x), in nats."""
    evidence = log_evidence(loglik, priors)
    return {"log_px": evidence, "log_ratio": evidence + compressed_bits(levels) * np.log(2)}


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
    h = hashlib.sha256(repr([VERSION, settings.cascade_margin] + [settings.cascade_sets_margin] * bool(settings.cascade_sets_margin)
                                + [t.name for t in transforms]).encode())
    for s in model_sets(settings):
        for d in digits:
            for m in range(s.ensemble):
                with open(model_path(s.models_dir, d, m), "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:24]


def reference(settings, models, transforms, data, compute, levels_of):
    """What `no digit` is judged against, cached after the first call: the sorted
    held-out values of each score. compute(images) -> log p(x | k); levels_of(images) ->
    the images as the models read them."""
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
    values = scores(compute(x), np.log(counts / counts.sum()), levels_of(x))
    ref = {k: np.sort(v) for k, v in values.items()}
    make_folder(os.path.dirname(path))
    atomic_write(path, lambda tmp: np.savez(tmp, **ref), suffix=".npz")
    return ref


def thresholds(ref, quantile):
    """{score: the value that all but quantile / 2 of the held-out images reach}: together
    at most `quantile` of them are `no digit`. Empty for quantile 0 (no rejection)."""
    return {k: float(np.quantile(ref[k], quantile / 2)) for k in SCORES} if quantile > 0 else {}


def verdicts(names, loglik, priors, values, limits, num_pixels):
    """One dict per image: the digit (None for `no digit`, when a score is below its limit),
    the nearest digit (the most probable, a digit or not) and its posterior, the runner-up,
    bits per pixel under the nearest digit's model, the scores, and the verdict."""
    from .inference import posteriors
    post = posteriors(loglik, priors)
    order = np.argsort(-post, axis=1, kind="stable")
    out = []
    for i, name in enumerate(names):
        best, second = (int(k) for k in order[i, :2])
        low = [k for k, limit in limits.items() if values[k][i] < limit]
        out.append(dict(image=name, digit=None if low else best, nearest=best, probability=round(float(post[i, best]), 4), runner_up=second,
                        runner_up_probability=round(float(post[i, second]), 4),
                        bits_per_pixel=round(float(-loglik[i, best] / num_pixels / np.log(2)), 4),
                        **{k: round(float(values[k][i]), 2) for k in SCORES},
                        verdict="no digit" if low else "digit", low_scores=low))
    return out
