"""Robustness: the benchmark's corruptions (MNIST-C's, written here) and our own changes are
deterministic and do what they say; the canonical form takes the paper out whatever its
level or polarity and leaves a clean digit as it was; the outlier share bounds what one bad
pixel can cost, in the numpy nets and the keras engine alike."""
import math

import numpy as np
import pytest

import util
from pixelbayes import canonical, changes, corruptions
from pixelbayes.numerics import with_outliers


def digits(n=6, seed=0):
    """MNIST-like digits: light strokes (a ring, a bar) on black, 28x28 uint8."""
    rng = np.random.default_rng(seed)
    r, c = np.mgrid[0:28, 0:28]
    out = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        cy, cx, rad = 14 + rng.integers(-1, 2), 14 + rng.integers(-1, 2), rng.integers(8, 10)
        ring = np.abs(np.hypot(r - cy, c - cx) - rad) < 1.3
        bar = (np.abs(c - cx) < 1.5) & (np.abs(r - cy) < 9) if i % 2 else np.zeros_like(ring)
        out[i] = np.where(ring | bar, 255, 0)
    return out


@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_each_corruption_is_deterministic_by_seed_and_keeps_the_shape(name):
    x = digits()
    a, b = corruptions.corrupt(x, name, seed=0), corruptions.corrupt(x, name, seed=0)
    assert a.dtype == np.uint8 and a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x)                                    # it changes the images
    random = name not in ("scale", "brightness", "stripe", "canny_edges")
    assert random == (not np.array_equal(a, corruptions.corrupt(x, name, seed=1)))


def test_corruptions_do_what_the_benchmark_says():
    x = digits()
    np.testing.assert_array_equal(corruptions.corrupt(x, "brightness"), np.minimum(x.astype(int) + 128, 255))
    stripe = corruptions.corrupt(x, "stripe")
    np.testing.assert_array_equal(stripe[:, :, :7], 255 - x[:, :, :7])
    np.testing.assert_array_equal(stripe[:, :, 7:21], x[:, :, 7:21])
    moved = corruptions.corrupt(x, "translate").astype(float)
    centre = lambda im: np.array(np.nonzero(im)).mean(1)             # noqa: E731
    assert all(np.allclose(np.abs(centre(m) - centre(o)), 3, atol=0.5) for m, o in zip(moved, x))
    impulse = corruptions.corrupt(np.full((50, 28, 28), 128, np.uint8), "impulse_noise")
    assert abs(np.mean(impulse != 128) - 0.17) < 0.01 and set(np.unique(impulse)) == {0, 128, 255}
    small = corruptions.corrupt(x, "scale")
    assert all(np.ptp(np.nonzero(s > 64)[0]) < 0.8 * np.ptp(np.nonzero(o)[0]) for s, o in zip(small, x))
    assert set(np.unique(corruptions.corrupt(x, "canny_edges"))) <= {0, 255}


@pytest.mark.parametrize("name", list(changes.CHANGES))
def test_each_change_of_our_own_is_deterministic(name):
    x = digits()
    a = changes.change(x, name)
    np.testing.assert_array_equal(a, changes.change(x, name))
    assert a.dtype == np.uint8 and a.shape == x.shape and not np.array_equal(a, x)


def test_the_canonical_form_takes_out_the_paper_whatever_its_level_or_polarity():
    x = digits()
    clean = canonical.canonical(x)
    np.testing.assert_array_equal(clean, x)                            # black paper, white ink: as it is
    for paper, ink in ((128, 255), (200, 40), (255, 0), (90, 20)):     # grey, light and dark paper, either ink
        other = np.where(x > 0, ink, paper).astype(np.uint8)
        np.testing.assert_array_equal(canonical.canonical(other), x)
    ramp = np.clip(x + np.linspace(0, 120, 28)[None, None, :], 0, 255).astype(np.uint8)   # paper lighter to the right
    out = canonical.canonical(ramp)
    assert np.mean(np.abs(out.astype(int) - x)) < 0.5 * np.mean(np.abs(ramp.astype(int) - x))
    assert np.mean((out > 64) == (x > 0)) > 0.97                       # the ink where it was, the paper black


def test_the_canonical_form_removes_specks_and_keeps_a_blank_image_blank():
    x = digits()
    dusty = x.copy()
    dusty[:, 1, 1] = dusty[:, 26, 3] = dusty[:, 2, 25] = 255           # single bright specks on the paper
    np.testing.assert_array_equal(canonical.canonical(dusty), x)
    assert not canonical.canonical(np.full((2, 28, 28), 77, np.uint8)).any()


def agreement(form, x):
    """Share of the pixels where a canonical form and the original agree on ink (> 64) or paper."""
    return np.mean((form > 64) == (x > 0))


def test_a_paper_with_straight_edges_reads_a_shadow_and_a_region_of_the_other_polarity():
    """canonical.paper_regions: a sheet whose paper changes across a straight edge (our own
    `shadow`; a half of the sheet beyond an edge at 30 degrees in the other polarity) reads
    as the digit, where the medians' paper alone draws the edge as ink or loses the shade's strokes."""
    x = digits()
    r, c = np.mgrid[0:28, 0:28]
    beyond = np.cos(np.pi / 6) * (c - 13.5) + np.sin(np.pi / 6) * (r - 13.5) > 4
    for sheet in (changes.change(x, "shadow"), np.where(beyond, 255 - x, x).astype(np.uint8)):
        edged = canonical.canonical(sheet)
        plain = np.round(np.stack([canonical.frame(v) for v in canonical.ink_levels(sheet, edges=False)]) * 255)
        assert all(agreement(e, o) > 0.97 for e, o in zip(edged, x))
        assert np.mean([agreement(p, o) for p, o in zip(plain, x)]) < np.mean([agreement(e, o) for e, o in zip(edged, x)]) - 0.03
    band = np.abs(np.cos(np.pi / 3) * (c - 13.5) + np.sin(np.pi / 3) * (r - 13.5)) < 5        # two edges: a band
    sheet = np.where(band, 255 - x, x).astype(np.uint8)
    plain = np.round(np.stack([canonical.frame(v) for v in canonical.ink_levels(sheet, edges=False)]) * 255)
    edged = [agreement(e, o) for e, o in zip(canonical.canonical(sheet), x)]
    assert np.mean(edged) > 0.95 and np.mean(edged) > np.mean([agreement(p, o) for p, o in zip(plain, x)]) + 0.1
    big = np.kron(np.where(beyond, 255 - x, x)[0], np.ones((4, 4))).astype(np.uint8)       # a file's size: 112x112
    labels = canonical.regions(big.astype(float), canonical.paper(big[None].astype(float))[0])
    assert labels.shape == big.shape and len(np.unique(labels)) == 2


def test_a_paper_with_edges_leaves_slopes_thick_pens_and_clean_paper_to_the_medians():
    """No edge is found in clean paper (never searched), a slope of paper (the medians follow
    it) or a pen so thick that its inside is as wide as paper (its inside never meets the border)."""
    x = digits()
    ramp = np.clip(x + np.linspace(0, 120, 28)[None, None, :], 0, 255).astype(np.float64)
    thick = changes.change(changes.change(x, "thicker"), "thicker").astype(np.float64)
    for sheet in (x.astype(np.float64), ramp, thick):
        under = canonical.paper(sheet)
        assert all(canonical.paper_regions(s, u) is None for s, u in zip(sheet, under))
    np.testing.assert_array_equal(canonical.ink_levels(thick), canonical.ink_levels(thick, edges=False))


def test_an_outlier_share_bounds_what_one_pixel_can_cost():
    logp = np.log(np.array([1e-30, 1e-6, 0.5, 1.0]))
    mixed = with_outliers(logp, 0.05, 7)
    assert np.all(mixed >= math.log(0.05 / 7) - 1e-12)                 # no pixel below log(share / levels)
    np.testing.assert_allclose(mixed, np.log(0.95 * np.exp(logp) + 0.05 / 7))
    np.testing.assert_array_equal(with_outliers(logp, 0.0, 7), logp)


def test_a_bad_pixel_costs_a_digit_at_most_the_bound_in_every_net(tiny_models):
    nets = [util.load_net(util.model_path(tiny_models, d), d) for d in range(3)]
    levels = np.zeros((4, 6, 6), np.int64)
    bad = levels.copy()
    bad[:, 2, 3] = 6                                                   # one pixel the models never saw lit
    for net in nets:
        for share in (0.0, 0.05):
            step = util.NumpyGRU.__mro__[1].log_likelihoods(net, levels, outliers=share)    # the generic path
            np.testing.assert_allclose(net.log_likelihoods(levels, outliers=share), step, rtol=1e-6)
        plain = net.log_likelihoods(levels) - net.log_likelihoods(bad)
        bounded = net.log_likelihoods(levels, outliers=0.05) - net.log_likelihoods(bad, outliers=0.05)
        assert np.all(bounded <= math.log(7 / 0.05) + 0.1)
        assert np.all(plain > bounded)


def test_the_keras_engine_mixes_in_the_outlier_share_as_the_numpy_nets_do(tiny_models):
    from pixelbayes import engine
    nets = [util.load_net(util.model_path(tiny_models, d), d) for d in range(2)]
    levels = np.random.default_rng(0).integers(0, 7, (5, 6, 6))
    numpy_side = np.stack([net.log_likelihoods(levels, outliers=0.05) for net in nets], 1)
    np.testing.assert_allclose(engine.log_likelihoods(nets, levels, outliers=0.05), numpy_side, rtol=2e-5)


def test_evening_the_strokes_thickens_a_thin_pen_and_thins_a_thick_one():
    """canonical(..., strokes=True), the candidate the choice did not keep: a pen much thicker
    than MNIST's is thinned, usual widths are left alone, and by default nothing is evened."""
    x = digits()
    ring = np.zeros((1, 28, 28), np.uint8)
    r, c = np.mgrid[0:28, 0:28]
    ring[0][np.abs(np.hypot(r - 14, c - 14) - 8) < 3] = 255            # a pen about 6 pixels wide
    wide = canonical.stroke_width(ring[0] / 255)
    evened = canonical.canonical(ring, strokes=True)
    assert wide > canonical.STROKE[1] and canonical.stroke_width(evened[0] / 255) < wide - 1
    assert canonical.stroke_width(canonical.canonical(ring)[0] / 255) == wide          # off by default
    usual = canonical.canonical(x, strokes=True)
    np.testing.assert_array_equal(usual, canonical.canonical(x))      # usual widths: as they were
