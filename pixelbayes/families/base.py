"""The numpy side of the family interface: a trained model of p(pixel_t | pixels_<t)
that runs a step at a time (sampling) or over whole images (classification)."""
import numpy as np

from ..numerics import with_outliers
from ..preprocess import scan_order


class PixelNet:
    """Numpy inference of one trained model of p(pixel_t | pixels_<t), a step at a time.

    A family's subclass defines start(n) -> state, step(state, pixels) -> state (pixels
    None: the start input; else the (n,) levels just drawn or read) and
    log_probs(state) -> (n, levels). The generic log_likelihoods below runs them; a
    family may replace it with a faster one that gives the same numbers.
    """

    def __init__(self, settings, meta=None):
        self.settings = settings                 # the model's own settings (ModelSettings)
        self.target_size = settings.target_size
        self.levels = settings.levels
        self.seq_len = settings.seq_len
        self.meta = meta or {}

    def reading(self, levels, back=False):
        """Images (n, size, size) in the order this model reads their pixels (its scan), or
        with back=True from that order to the image."""
        return scan_order(np.asarray(levels), self.settings.scan, back)

    def log_likelihoods(self, levels, chunk=512, workers=1, outliers=0.0):
        """log p(image) in nats for each image (n, target_size, target_size); with outliers > 0
        each pixel's distribution mixed with that uniform share (numerics.with_outliers)."""
        flat = self.reading(levels).reshape(len(levels), -1).astype(np.intp)
        out = np.zeros(len(flat), np.float64)
        for lo in range(0, len(flat), chunk):
            seq = flat[lo:lo + chunk]
            state, pixels = self.start(len(seq)), None
            for t in range(self.seq_len):
                state = self.step(state, pixels)
                out[lo:lo + len(seq)] += with_outliers(self.log_probs(state)[np.arange(len(seq)), seq[:, t]],
                                                       outliers, self.levels)
                pixels = seq[:, t]
        return out

