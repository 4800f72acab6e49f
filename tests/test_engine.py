"""The keras engine (each family's training graph, compiled by the backend, batched over
images, transforms and models) computes what the numpy nets compute, to float32
accuracy: for the GRU, the PixelCNN, an ensemble, and a digit mixing the two families;
and the cascade (the whole mixture only for the digits in contention) is the exact
mixture for those digits and a lower bound for the others, on either engine."""
import dataclasses
import os
import sys

import numpy as np

import util
from conftest import ROOT, synthetic_digits
from pixelbayes import engine
from test_pixelcnn import random_net, tiny

# log p(x) sums 100 float32 log-probabilities of about 0.1 to 3 nats each; the graph and
# the nets round differently (log-softmax in float32 against float64; summation order):
# about 1e-6 relative per term, 1e-5 for the sum at worst. A wrong step or weight moves
# it by whole nats.
RTOL = 2e-5


def both(models, images, transforms, settings):
    numpy = util.mixture_log_likelihoods(models, images, transforms, dataclasses.replace(settings, classify_engine="numpy"))
    keras = util.mixture_log_likelihoods(models, images, transforms,
                                         dataclasses.replace(settings, classify_engine="keras", classify_batch=16))
    return numpy, keras


def test_the_keras_engine_equals_numpy_for_the_gru_over_shifts(tiny_models):
    s = dataclasses.replace(util.settings_for(), cascade_margin=0.0)          # the exact mixture
    models = [[util.load_net(util.model_path(tiny_models, d), d)] for d in range(10)]
    images, _ = synthetic_digits(3, seed=9)
    numpy, keras = both(models, images, util.latents(1), s)
    assert numpy.shape == keras.shape == (30, 10)
    np.testing.assert_allclose(keras, numpy, rtol=RTOL)
    assert np.ptp(numpy) > 1                           # not flat: the images get different likelihoods


def test_the_keras_engine_equals_numpy_for_pixelcnns_and_mixed_families(tiny_models):
    s = tiny(pixelcnn_filters=16, pixelcnn_blocks=2, target_size=6)          # the GRUs' image size
    gru = [util.load_net(util.model_path(tiny_models, d), d) for d in range(3)]
    cnn = [random_net(s, seed=d)[0] for d in range(3)]
    models = [[cnn[0]], [cnn[1], cnn[2]], [gru[2], cnn[0]]]           # alone, an ensemble, two families
    images, _ = synthetic_digits(2, seed=4)
    numpy, keras = both(models, images, util.latents(0, (-10, 10)), util.settings_for())   # the cascade
    np.testing.assert_allclose(keras, numpy, rtol=RTOL)


def runner_up_gaps(scores):
    """The distinct distances (nats) of the runners-up from each image's best, ascending."""
    gaps = scores.max(1, keepdims=True) - scores
    return np.unique(gaps[(gaps > 0) & np.isfinite(gaps)])


def widest_gap_middle(g):
    """The middle of the widest gap between consecutive values of g (ascending)."""
    k = np.argmax(np.diff(g))
    return float(g[k] + g[k + 1]) / 2


def a_margin(scores):
    """A margin (nats) in the widest gap among the middle third of the runners-up's distances
    from each image's best, far from either engine's rounding."""
    g = runner_up_gaps(scores)
    return widest_gap_middle(g[len(g) // 3 - 1:2 * len(g) // 3])


def test_the_cascade_is_exact_for_the_digits_in_contention_and_a_lower_bound_for_the_rest(tiny_models):
    s = util.settings_for()
    models = [[util.load_net(util.model_path(tiny_models, d), d)] for d in range(10)]
    images, _ = synthetic_digits(3, seed=9)
    transforms, priors = util.latents(1), util.log_priors([0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    mixture = lambda margin, engine="numpy": util.mixture_log_likelihoods(          # noqa: E731
        models, images, transforms, dataclasses.replace(s, cascade_margin=margin, classify_engine=engine), priors=priors)
    exact, first = mixture(0.0), util.mixture_log_likelihoods(models, images, util.latents(0), s)
    np.testing.assert_allclose(mixture(1e9), exact, rtol=1e-12)       # all in contention: the same sums
    margin = a_margin(first + priors)
    contend = util.in_contention(first + priors, margin)
    assert contend.sum() > len(images) and not contend.all()
    cascade = mixture(margin)
    # the second pass runs the nets on a subset of the images: other matrix shapes, which a
    # BLAS kernel may round otherwise in float32
    np.testing.assert_allclose(cascade[contend], exact[contend], rtol=1e-6)
    np.testing.assert_allclose(cascade[~contend], first[~contend] - np.log(9), rtol=1e-12)
    assert np.all(cascade[~contend] <= exact[~contend])
    np.testing.assert_allclose(mixture(margin, "keras"), cascade, rtol=RTOL)


def test_auto_picks_numpy_without_a_gpu(monkeypatch):
    monkeypatch.setattr(engine.backend.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(engine.backend.os.path, "exists", lambda path: False)
    assert engine.resolve("auto") == "numpy" and engine.resolve("keras") == "keras"
    monkeypatch.setattr(engine.backend.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    assert engine.resolve("auto") == "keras"


def test_the_cascade_over_two_profiles_runs_the_first_alone_then_the_second_for_the_digits_in_contention(tiny_models):
    """A mixture of profiles with cascade_sets_margin: the first profile's nets (here rows)
    take the cascade's two steps alone; the second's (here the same nets reading columns)
    run only for the digits whose first-profile mixture lies within that margin of the best;
    the rest keep the lower bound of the terms computed."""
    rows = [util.load_net(util.model_path(tiny_models, d), d) for d in range(10)]
    models = [[net, util.NumpyGRU(net.weights, dataclasses.replace(net.settings, scan="columns"))] for net in rows]
    images, _ = synthetic_digits(3, seed=9)
    transforms, priors = util.latents(1), util.log_priors([0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    s = dataclasses.replace(util.settings_for(), mix=("tutorial", "shift"))   # the first: one net per digit
    assert s.cascade_lead() is None and dataclasses.replace(s, cascade_sets_margin=1.0).cascade_lead() == 1

    def mixture(nets, margin, sets_margin, engine="numpy", latents=transforms):
        settings = dataclasses.replace(s, cascade_margin=margin, cascade_sets_margin=sets_margin, classify_engine=engine)
        return util.mixture_log_likelihoods(nets, images, latents, settings, priors=priors)
    exact, alone = mixture(models, 0.0, 0.0), [[net] for net in rows]
    first, head = mixture(alone, 0.0, 0.0, latents=util.latents(0)), mixture(alone, 0.0, 0.0)
    np.testing.assert_allclose(mixture(models, 1e9, 1e9), exact, rtol=1e-6)      # all in contention
    margin = a_margin(first + priors)
    contend = util.in_contention(first + priors, margin)
    sets_margin = a_margin(np.where(contend, head + priors, -np.inf))
    both_sets = contend & util.in_contention(np.where(contend, head + priors, -np.inf), sets_margin)
    assert both_sets.sum() > len(images) and (contend & ~both_sets).any() and not contend.all()
    cascade = mixture(models, margin, sets_margin)
    np.testing.assert_allclose(cascade[both_sets], exact[both_sets], rtol=1e-6)
    only_rows = contend & ~both_sets                    # the rows nets' 9 terms of 18
    np.testing.assert_allclose(cascade[only_rows], head[only_rows] - np.log(2), rtol=1e-6)
    np.testing.assert_allclose(cascade[~contend], first[~contend] - np.log(18), rtol=1e-6)   # 1 term of 18
    assert np.all(cascade[~both_sets] <= exact[~both_sets] + 1e-6 * np.abs(exact[~both_sets]))
    np.testing.assert_allclose(mixture(models, margin, sets_margin, "keras"), cascade, rtol=RTOL)


def a_small_margin(scores):
    """A margin (nats) in the widest gap among the nearest tenth of the runners-up's distances
    from each image's best: tight enough that the cascade leaves most digits out, and far from
    either computation's rounding."""
    g = runner_up_gaps(scores)
    return widest_gap_middle(g[:max(len(g) // 10, 3)])


def test_the_cascade_over_three_profiles_answers_as_experiments_cascade_predicts(tiny_models):
    """experiments/cascade.py picks a mixture's margins (and the order of its sets) from each
    set's exact terms by simulating the cascade; with three sets (the first alone, then the
    other two for the digits still in contention) and margins that leave digits out at each
    step, classification's cascade gives the scores (the exact mixture, the first set's
    mixture, or the lower bound of the image as it is, digit by digit) and so the answers that
    the simulation predicts."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import cascade
    rows = [util.load_net(util.model_path(tiny_models, d), d) for d in range(10)]
    models = [[net] + [util.NumpyGRU(net.weights, dataclasses.replace(net.settings, scan=scan))
                       for scan in ("columns", "rows_reversed")] for net in rows]
    images, _ = synthetic_digits(4, seed=11)
    transforms, priors = util.latents(1), util.log_priors([0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9])
    exact_settings = dataclasses.replace(util.settings_for(), cascade_margin=0.0)
    terms = np.concatenate([[util.mixture_log_likelihoods([[nets[m]] for nets in models], images, [t], exact_settings)
                             for t in transforms] for m in range(3)])        # cascade.py's layout: set by set
    i = util.identity_index(transforms)
    first = terms[i] + priors
    margin = a_small_margin(first)
    head = np.where(util.in_contention(first, margin), util.log_mean_exp(terms[:9], axis=0) + priors, -np.inf)
    sets_margin = a_small_margin(head)
    predicted, c1, c2, _ = cascade.sets_cascade(terms, priors, 9, i, margin, sets_margin)     # plus log p(k)
    assert 1 < c2 < c1 < 10                              # each of the three cases has digits
    exact = util.classify(util.log_mean_exp(terms, axis=0), priors)
    np.testing.assert_array_equal(cascade.sets_cascade(terms, priors, 9, i, 1e9, 1e9)[0].argmax(1), exact)
    s = dataclasses.replace(util.settings_for(), mix=("tutorial", "shift", "fast"), cascade_margin=margin,
                            cascade_sets_margin=sets_margin)
    assert s.cascade_lead() == 1
    scores = util.mixture_log_likelihoods(models, images, transforms, s, priors=priors) + priors
    np.testing.assert_allclose(scores, predicted, rtol=1e-6)   # the same nets; only the order of sums differs
    picked = scores[np.arange(len(scores)), predicted.argmax(1)]    # the predicted answers, up to rounding near a tie
    np.testing.assert_allclose(picked, scores.max(1), rtol=1e-6)
