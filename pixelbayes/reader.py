"""One profile's models, loaded once, and what they say of a user's images: the
posterior over the digits and the `no digit` verdict (novelty.py). classification.py's
--images and the demo page (server.py) read images through it."""
import numpy as np

from . import novelty
from .canonical import has_ink
from .inference import classifier_inputs, log_priors, mixture_log_likelihoods, model_view, posteriors, sample
from .modelfiles import load_models
from .preprocess import latents


class Reader:
    """settings: the run's Settings; data: MNIST (its training labels give the priors and
    its held-out training images the `no digit` thresholds); uniform_priors: p(k) = 1/10."""

    def __init__(self, settings, data, uniform_priors=False):
        self.settings, self.data = settings, data
        self.models = load_models(settings)
        self.net = self.models[0][0]
        self.transforms = settings.test_latents()
        self.training_priors = log_priors(data["y_train"])
        self.priors = log_priors(range(10)) if uniform_priors else self.training_priors
        self._reference = None

    def view(self, images):
        """The 28x28 images as the models read them (the canonical form where the settings say so)."""
        return model_view(images, self.settings)

    def levels(self, images):
        """The images at the models' size and levels, untransformed: (n, size, size)."""
        return classifier_inputs(self.view(images), self.models, latents(0))[0]

    def log_likelihoods(self, images, progress=False, priors=None):
        """log p(x | k), (n, 10): each digit's mixture (inference.mixture_log_likelihoods)."""
        return mixture_log_likelihoods(self.models, images, self.transforms, self.settings, progress, priors)

    def reference(self):
        """The held-out images' scores that `no digit` is judged against (computed once, cached)."""
        if self._reference is None:
            self._reference = novelty.reference(self.settings, self.models, self.transforms, self.data,
                                                self.log_likelihoods, self.levels)
        return self._reference

    def limits(self, reject):
        """{score: each digit's `no digit` limit}: all but `reject` of the held-out images pass."""
        return novelty.thresholds(self.reference(), reject)

    def verdicts(self, names, images, loglik, reject):
        """One dict per image (novelty.verdicts): digit or `no digit`, the nearest digit, the scores."""
        ref = self.reference()
        values = novelty.scores(loglik, self.training_priors, self.levels(images), ref["floors"])
        low = novelty.judged(values, self.limits(reject), has_ink(images))
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
