"""One profile's models, loaded once, and what they say of a user's images: the
posterior over the digits and the `no digit` verdict (novelty.py). classification.py's
--images and the demo page (server.py) read images through it."""
import dataclasses

import numpy as np

from . import novelty
from .canonical import has_ink
from .inference import classifier_inputs, log_priors, mixture_log_likelihoods, model_view, posteriors, sample
from .modelfiles import load_models
from .preprocess import latents


class Reader:
    """settings: the run's Settings; data: MNIST (its training labels give the priors and
    its held-out training images the `no digit` thresholds); uniform_priors: p(k) = 1/10.

    Where settings.robust_fallback (and a robust setting) is on, an image is read as it is,
    and again with the robust settings only where that plain reading finds it unexplained
    (`no digit` at the held-out share settings.fallback_share)."""

    def __init__(self, settings, data, uniform_priors=False):
        self.settings, self.data = settings, data
        self.models = load_models(settings)
        self.net = self.models[0][0]
        self.transforms = settings.test_latents()
        self.training_priors = log_priors(data["y_train"])
        self.priors = log_priors(range(10)) if uniform_priors else self.training_priors
        robust = settings.canonical_form or settings.outlier_share > 0
        self.fallback = settings.robust_fallback and robust
        self.plain = dataclasses.replace(settings, canonical_form=False, outlier_share=0.0, robust_fallback=False)
        self.robust = dataclasses.replace(settings, robust_fallback=False)
        self._references = {}

    def readings(self, robust):
        """The settings each image (robust: (n,) bool, read robustly) was read with."""
        return [self.robust if r else self.plain for r in robust]

    def view(self, images, robust=None):
        """The 28x28 images as the models read them (the canonical form where that reading says so)."""
        images = np.asarray(images)
        robust = self.read_robustly(images) if robust is None else robust
        out = images.copy()
        if robust.any():
            out[robust] = model_view(images[robust], self.robust)
        return out

    def levels(self, images, robust=None):
        """The images at the models' size and levels, untransformed: (n, size, size)."""
        return classifier_inputs(self.view(images, robust), self.models, latents(0))[0]

    def read_robustly(self, images):
        """Which images the settings read robustly where there is no fallback: all or none."""
        s = self.settings
        return np.full(len(images), (s.canonical_form or s.outlier_share > 0) and not self.fallback)

    def log_likelihoods(self, images, progress=False, priors=None):
        """log p(x | k), (n, 10): each digit's mixture (inference.mixture_log_likelihoods)."""
        return self.reading(images, progress, priors)[0]

    def reading(self, images, progress=False, priors=None):
        """(log p(x | k), (n, 10); which images were read robustly, (n,) bool)."""
        images = np.asarray(images)
        if not self.fallback:
            loglik = mixture_log_likelihoods(self.models, images, self.transforms, self.settings, progress, priors)
            return loglik, self.read_robustly(images)
        loglik = mixture_log_likelihoods(self.models, images, self.transforms, self.plain, progress, priors)
        low = self._judged(images, loglik, np.zeros(len(images), bool), self.settings.fallback_share)[0]
        robust = np.array([bool(r) for r in low], bool)
        if robust.any():
            loglik[robust] = mixture_log_likelihoods(self.models, images[robust], self.transforms, self.robust,
                                                     False, priors)
        return loglik, robust

    def reference(self, settings):
        """The held-out images' scores that `no digit` is judged against under one reading
        (computed once, cached)."""
        key = (settings.canonical_form, settings.outlier_share)
        if key not in self._references:
            self._references[key] = novelty.reference(
                settings, self.models, self.transforms, self.data,
                lambda x: mixture_log_likelihoods(self.models, x, self.transforms, settings),
                lambda x: classifier_inputs(model_view(x, settings), self.models, latents(0))[0])
        return self._references[key]

    def limits(self, reject, robust=False):
        """{score: each digit's `no digit` limit} of one reading: all but `reject` of the
        held-out images pass."""
        return novelty.thresholds(self.reference(self.robust if robust or not self.fallback else self.plain), reject)

    def _judged(self, images, loglik, robust, reject):
        """(novelty.judged's reasons, novelty.scores' values) for each image, under the reading
        it had (robust, (n,) bool)."""
        low, values = [None] * len(images), {}
        for flag in (False, True):
            rows = np.flatnonzero(robust == flag)
            if not len(rows):
                continue
            reading = self.robust if flag or not self.fallback else self.plain
            ref = self.reference(reading)
            levels = classifier_inputs(model_view(images[rows], reading), self.models, latents(0))[0]
            part = novelty.scores(loglik[rows], self.training_priors, levels, ref["floors"])
            for i, reasons in zip(rows, novelty.judged(part, novelty.thresholds(ref, reject), has_ink(images[rows]))):
                low[i] = reasons
            for k, v in part.items():
                values.setdefault(k, np.zeros(len(images), v.dtype))[rows] = v
        return low, values

    def verdicts(self, names, images, loglik, reject, robust=None):
        """One dict per image (novelty.verdicts): digit or `no digit`, the nearest digit, the
        scores, each judged under the reading it had (robust: from reading(); None: read_robustly)."""
        images = np.asarray(images)
        low, values = self._judged(images, loglik, self.read_robustly(images) if robust is None else robust, reject)
        return novelty.verdicts(names, loglik, self.priors, values, low, self.net.seq_len)

    def posteriors(self, loglik):
        """p(k | x), (n, 10), under this reader's priors."""
        return posteriors(loglik, self.priors)

    def sample(self, digit, n, rng, given=None):
        """n images of the digit drawn by its models (inference.sample; given: pixels kept)."""
        return sample(self.models[digit], n, rng, 1.0, given)

    def scan_positions(self):
        """The pixels' positions (row * size + column) in the order the models read them."""
        size = self.net.target_size
        return self.net.reading(np.arange(size * size).reshape(1, size, size))[0].ravel()
