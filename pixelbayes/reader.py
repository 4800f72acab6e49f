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


def stage_name(settings):
    """How a reading reads an image, in words."""
    if settings.canonical_form and settings.even_strokes:
        return "strokes evened"
    return "robustly" if settings.canonical_form or settings.outlier_share > 0 else "as it is"


class Reader:
    """settings: the run's Settings; data: MNIST (its training labels give the priors and
    its held-out training images the `no digit` thresholds); uniform_priors: p(k) = 1/10.

    An image is read in stages (self.stages, each a Settings): the first reads every image,
    each next one only the images the one before finds unexplained (`no digit` at the
    held-out share settings.fallback_share). The stages: as it is, where
    settings.robust_fallback (and a robust setting) is on; with the profile's own settings;
    with the strokes evened too, where settings.strokes_fallback (and the canonical form).
    Models that held out no training images have no thresholds: one stage, the profile's own."""

    def __init__(self, settings, data, uniform_priors=False):
        self.settings, self.data = settings, data
        self.models = load_models(settings)
        self.net = self.models[0][0]
        self.transforms = settings.test_latents()
        self.training_priors = log_priors(data["y_train"])
        self.priors = log_priors(range(10)) if uniform_priors else self.training_priors
        own = dataclasses.replace(settings, robust_fallback=False, strokes_fallback=False)
        plain = dataclasses.replace(own, canonical_form=False, outlier_share=0.0, even_strokes=False)
        self.stages = ([plain] if settings.robust_fallback and stage_name(own) != "as it is" else []) + [own]
        if settings.strokes_fallback and own.canonical_form and not own.even_strokes:
            self.stages.append(dataclasses.replace(own, even_strokes=True))
        if not self.net.settings.validation_fraction:      # nothing held out: no `no digit` thresholds, so
            self.stages = [own]                             # every image is read once, the profile's own way
        self._references = {}

    def levels(self, seen):
        """28x28 images as the models see them -> at the models' size and levels, untransformed."""
        return classifier_inputs(seen, self.models, latents(0))[0]

    def log_likelihoods(self, images, progress=False, priors=None):
        """log p(x | k), (n, 10): each digit's mixture (inference.mixture_log_likelihoods)."""
        return self.reading(images, progress, priors)[0]

    def reading(self, images, progress=False, priors=None):
        """(log p(x | k), (n, 10); the stage that read each image, (n,) indices into
        self.stages; the 28x28 images as that stage saw them: the canonical form where it says so)."""
        images = np.asarray(images)
        stage = np.zeros(len(images), int)
        loglik, seen = self._read(images, 0, progress, priors)
        seen = np.array(seen)          # the first stage may see the images as they are: never write into them
        for k in range(1, len(self.stages)):
            rows = np.flatnonzero(stage == k - 1)
            low = self._judged(images[rows], loglik[rows], stage[rows], self.settings.fallback_share, seen[rows])[0]
            rows = rows[[bool(reasons) for reasons in low]]
            if len(rows):
                loglik[rows], seen[rows] = self._read(images[rows], k, False, priors)
                stage[rows] = k
        return loglik, stage, seen

    def _read(self, images, k, progress, priors):
        """(log p(x | k), the images as stage k's models see them): the view made once."""
        settings = self.stages[k]
        seen = model_view(images, settings)
        return mixture_log_likelihoods(self.models, seen, self.transforms,
                                       dataclasses.replace(settings, canonical_form=False), progress, priors), seen

    def counts(self, stage):
        """{how: images} of the stages that read them (stage_name)."""
        return {stage_name(s): int(np.sum(stage == k)) for k, s in enumerate(self.stages)}

    def reference(self, settings):
        """The held-out images' scores that `no digit` is judged against under one reading
        (computed once, cached)."""
        key = (settings.canonical_form, settings.outlier_share, settings.even_strokes)
        if key not in self._references:
            self._references[key] = novelty.reference(
                settings, self.models, self.transforms, self.data,
                lambda x: mixture_log_likelihoods(self.models, x, self.transforms, settings),
                lambda x: self.levels(model_view(x, settings)))
        return self._references[key]

    def limits(self, reject, stage=0):
        """{score: each digit's `no digit` limit} of one stage's reading: all but `reject` of
        the held-out images pass."""
        return novelty.thresholds(self.reference(self.stages[stage]), reject)

    def _judged(self, images, loglik, stage, reject, seen=None):
        """(novelty.judged's reasons, novelty.scores' values) for each image, under the stage
        that read it (seen: the images as that stage saw them, where already made; in the
        canonical form, an image has ink where its form has any)."""
        low, values = [None] * len(images), {}
        for k, settings in enumerate(self.stages):
            rows = np.flatnonzero(stage == k)
            if not len(rows):
                continue
            ref = self.reference(settings)
            view = model_view(images[rows], settings) if seen is None else seen[rows]
            inked = view.reshape(len(rows), -1).any(1) if settings.canonical_form else has_ink(images[rows])
            part = novelty.scores(loglik[rows], self.training_priors, self.levels(view), ref["floors"])
            for i, reasons in zip(rows, novelty.judged(part, novelty.thresholds(ref, reject), inked)):
                low[i] = reasons
            for name, v in part.items():
                values.setdefault(name, np.zeros(len(images), v.dtype))[rows] = v
        return low, values

    def verdicts(self, names, images, reading, reject):
        """One dict per image (novelty.verdicts): digit or `no digit`, the nearest digit, the
        scores, each judged under the stage that read it (reading: what reading() returned)."""
        loglik, stage, seen = reading
        low, values = self._judged(np.asarray(images), loglik, stage, reject, seen)
        return novelty.verdicts(names, loglik, self.priors, values, low, self.net.seq_len)

    def posteriors(self, loglik):
        """p(k | x), (n, 10), under this reader's priors."""
        return posteriors(loglik, self.priors)

    def sample(self, digit, n, rng, given=None):
        """n images of the digit drawn by its models at the profile's temperature
        (inference.sample; given: pixels kept)."""
        return sample(self.models[digit], n, rng, self.settings.sample_temperature, given)

    def scan_positions(self):
        """The pixels' positions (row * size + column) in the order the models read them."""
        size = self.net.target_size
        return self.net.reading(np.arange(size * size).reshape(1, size, size))[0].ravel()
