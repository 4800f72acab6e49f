"""Numerically stable helpers in numpy, written once and called by name."""
import math

import numpy as np


def log_softmax(logits, axis=-1):
    """log of the softmax along axis, stable: the largest logit is taken out first."""
    shifted = logits - logits.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def log_mean_exp(values, axis=0):
    """log(mean(exp(values))) along axis, stable: the log-likelihood of an equal mixture."""
    top = values.max(axis)
    return top + np.log(np.exp(values - np.expand_dims(top, axis)).mean(axis))


def with_outliers(logp, share, levels):
    """log((1 - share) p + share / levels) for log-probabilities logp of a pixel's level: each
    pixel's distribution mixed with a uniform share, so that no pixel costs more than
    log(levels / share) nats however unlikely the model finds it (share 0: logp itself)."""
    if not share:
        return logp
    return np.logaddexp(math.log1p(-share) + logp, math.log(share / levels))


def bits_per_pixel(nats_per_pixel):
    return nats_per_pixel / math.log(2)


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
