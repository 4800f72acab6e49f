"""Inference: drawing new digits (sample) and Bayes' rule (the likelihood of each digit's
model, a mixture over its members and the latent transforms, plus the priors)."""
import numpy as np

from . import engine
from .backend import get_keras
from .families import ShapeThenDetail
from .numerics import log_mean_exp
from .preprocess import identity_index, preprocess_transformed


def sample(members, n, rng, temperature=1.0, given=None):
    """Draw n images from one digit's nets: levels (n, target_size, target_size).

    One step per pixel for the whole batch, from the start input; every pixel is drawn
    from p(pixel | pixels before it) ** (1 / temperature), renormalised. Several nets
    are an equal mixture: each image comes from one member drawn at random. given:
    (levels, known), both (n, size, size): where known is True the pixel is not drawn
    but fed as it is in levels (a completion of those pixels, in the model's reading order).
    """
    if len(members) > 1:
        member = rng.integers(len(members), size=n)
        size = members[0].target_size
        out = np.zeros((n, size, size), np.uint8)
        for m, net in enumerate(members):
            pick = member == m
            part = None if given is None else tuple(np.asarray(a)[pick] for a in given)
            out[pick] = sample([net], int(np.sum(pick)), rng, temperature, part)
        return out
    net = members[0]
    if isinstance(net, ShapeThenDetail):    # the shape, then the detail given it
        shape = sample([net.shape], n, rng, temperature, None if given is None else net.given_shape(*given))
        return _draw(net.detail, net.detail.start(n, shape), n, rng, temperature, given)
    return _draw(net, net.start(n), n, rng, temperature, given)


def _draw(net, state, n, rng, temperature, given):
    """sample's loop for one net from its start state."""
    if given is not None:
        fixed, known = (net.reading(np.asarray(a)).reshape(n, net.seq_len) for a in given)
    pixels = None
    out = np.zeros((n, net.seq_len), np.uint8)
    for t in range(net.seq_len):
        state = net.step(state, pixels)
        logp = net.log_probs(state) / temperature
        p = np.exp(logp - logp.max(1, keepdims=True))
        cdf = np.cumsum(p, 1)
        u = rng.random(n) * cdf[:, -1]
        pixels = np.minimum((cdf < u[:, None]).sum(1), net.levels - 1)
        if given is not None:
            pixels = np.where(known[:, t], fixed[:, t], pixels)
        out[:, t] = pixels
    return np.ascontiguousarray(net.reading(out.reshape(n, net.target_size, net.target_size), back=True))


# =============================================================================
# Classification
# =============================================================================

def model_view(images, settings):
    """The 28x28 images as the classifier reads them: in the canonical form
    (canonical.canonical; its strokes evened where settings.even_strokes) where
    settings.canonical_form says so, else as they are."""
    if not settings.canonical_form:
        return np.asarray(images)
    from .canonical import canonical
    return canonical(images, strokes=settings.even_strokes)


def classifier_inputs(images, models, transforms):
    """The test images as the models read them: levels (copies, n, size, size), a copy
    per latent transform (preprocess.latents), at the models' own size and levels
    (deskewed first for models trained on deskewed images)."""
    net = models[0][0]
    return preprocess_transformed(images, transforms, net.target_size, net.levels - 1, net.settings.deskew)


def digit_log_likelihoods(members, copies, chunk=512, workers=1, outliers=0.0):
    """log p(x | digit) in nats for each image: the equal mixture over the digit's nets
    and over the transformed copies (copies, n, size, size) of each image; each pixel's
    distribution mixed with the uniform share `outliers` (numerics.with_outliers)."""
    terms = np.stack([net.log_likelihoods(levels, chunk, workers, outliers) for net in members for levels in copies])
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



def mixture_log_likelihoods(models, images, transforms, settings, progress=False, priors=None):
    """log p(x | k) for each 28x28 image and digit k, (n, digits): each digit's mixture
    over its nets and the latent transforms. settings.classify_engine picks the numpy nets
    (the images in chunks on classify_workers threads) or the Keras graph (engine.py).

    With several transforms and settings.cascade_margin > 0, a cascade: the image as it is
    under every digit first, then the whole mixture only for the digits whose first score
    (plus log p(k), from priors) lies within the margin (nats) of the best; for the
    others the lower bound (first score - log transforms) stands. Margin 0: the exact
    mixture for every digit. With a mixture of profiles and cascade_sets_margin > 0, the
    first profile's nets alone take those two steps (settings.cascade_lead), and the other
    profiles' nets run only for the digits whose first-profile mixture (plus log p(k)) lies
    within that margin of the best; every other digit keeps the lower bound of the terms
    computed (their sum over the count of all terms). The images are first put in the
    canonical form where settings.canonical_form says so (model_view), and each pixel's
    distribution mixed with settings.outlier_share (numerics.with_outliers)."""
    copies = classifier_inputs(model_view(images, settings), models, transforms)
    run = _mixtures(settings)
    if len(transforms) == 1 or not settings.cascade_margin:
        return run(models, copies, progress)
    prior = 0 if priors is None else np.asarray(priors)[None, :]
    members = len(models[0])
    lead = settings.cascade_lead() or members
    head = [nets[:lead] for nets in models]
    i, count = identity_index(transforms), len(transforms)
    first = run(head, copies[i:i + 1], False)
    contend = in_contention(first + prior, settings.cascade_margin)
    out, rest = first - np.log(count), np.delete(copies, i, axis=0)
    for d, nets in enumerate(progress_iter(head, "models", progress)):
        rows = np.flatnonzero(contend[:, d])
        if len(rows):                   # (e^first + (count - 1) e^others) / count
            others = run([nets], rest[:, rows], False)[:, 0]
            out[rows, d] = np.logaddexp(first[rows, d], others + np.log(count - 1)) - np.log(count)
    if lead == members:
        return out
    contend &= in_contention(np.where(contend, out + prior, -np.inf), settings.cascade_sets_margin)
    out += np.log(lead / members)       # (lead e^head + (members - lead) e^tail) / members
    for d, nets in enumerate(progress_iter(models, "models", progress)):
        rows = np.flatnonzero(contend[:, d])
        if len(rows):
            tail = run([nets[lead:]], copies[:, rows], False)[:, 0]
            out[rows, d] = np.logaddexp(out[rows, d], tail + np.log((members - lead) / members))
    return out


def in_contention(scores, margin):
    """The cascade's rule: which digits (n, digits) score within margin nats of each image's best."""
    return scores >= scores.max(1, keepdims=True) - margin


def _mixtures(settings):
    """The engine's function (models, copies, progress) -> (n, len(models)), each digit's
    equal mixture over its nets and the copies (transforms, n, size, size)."""
    if engine.resolve(settings.classify_engine) == "keras":
        return lambda models, copies, progress: engine.mixture_log_likelihoods(models, copies, settings.classify_batch,
                                                                               settings.outlier_share)
    return lambda models, copies, progress: np.stack(
        [digit_log_likelihoods(members, copies, settings.classify_chunk, settings.classify_workers,
                               settings.outlier_share)
         for members in progress_iter(models, "models", progress)], 1)


def posteriors(loglik, priors):
    """p(k | x) for each image (n, digits), from log p(x | k) and log p(k), in log space."""
    from scipy.special import logsumexp
    scores = loglik + priors[None, :]
    return np.exp(scores - logsumexp(scores, axis=1, keepdims=True))
