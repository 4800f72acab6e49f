import numpy as np
import pytest
from skimage.transform import resize
from skimage.util import img_as_ubyte

import config
from pixelbayes import preprocess
import util
from conftest import synthetic_digits


def test_batch_preprocess_equals_per_image_loop():
    images, _ = synthetic_digits(5, seed=3)
    batch = util.preprocess(images, 10, config.max_intensity)
    factor = 256 / config.max_intensity
    loop = np.stack([np.round(img_as_ubyte(resize(im, (10, 10), anti_aliasing=True)) / factor)
                     for im in images]).astype(np.uint8)
    assert batch.shape == (len(images), 10, 10)
    assert np.array_equal(batch, loop)
    assert batch.max() == config.max_intensity and batch.min() == 0


def test_shifts_move_the_image_and_fill_with_background():
    img = np.arange(1, 17, dtype=np.uint8).reshape(1, 4, 4)
    assert preprocess.shift_grid(1)[4] == (0, 0) and len(preprocess.shift_grid(2)) == 25
    down_right = preprocess.shift_images(img, 1, 1)[0]
    assert np.array_equal(down_right[1:, 1:], img[0, :3, :3])
    assert not down_right[0].any() and not down_right[:, 0].any()
    assert np.array_equal(preprocess.shift_images(img, -1, 0)[0, :3], img[0, 1:])
    assert np.array_equal(preprocess.shift_images(img, 0, 0), img)


def test_elastic_deformations_are_each_images_own_and_repeatable(monkeypatch):
    """An elastic copy is a smooth displacement of the image, the n-th image's field is the
    same every time (draw d), another draw or another image gets another field, and with
    alpha 0 the image comes back unchanged (bilinear sampling at the pixels themselves)."""
    images, _ = synthetic_digits(4, seed=5)
    twins = np.stack([images[0], images[0]])
    first, again = preprocess.elastic_images(twins, 1), preprocess.elastic_images(twins, 1)
    assert first.dtype == np.uint8 and first.shape == twins.shape and np.array_equal(first, again)
    assert not np.array_equal(first[0], first[1])                    # each image its own field
    assert not np.array_equal(first, preprocess.elastic_images(twins, 2))
    assert not np.array_equal(first[0], twins[0])
    assert abs(int(first[0].sum()) - int(twins[0].sum())) < 0.5 * twins[0].sum()   # moved, not lost
    transforms = preprocess.latents(1, elastic=2)
    assert len(transforms) == 27 and len({t.name for t in transforms}) == 27
    assert transforms[preprocess.identity_index(transforms)] == preprocess.Transform()
    monkeypatch.setattr(preprocess, "ELASTIC_ALPHA", 0.0)
    assert np.array_equal(preprocess.elastic_images(images, 1), images)


def test_deskewing_stands_a_slanted_stroke_upright_and_leaves_upright_ones_alone():
    """A bar slanted one column per two rows comes out upright about its centroid (its
    row-column covariance gone, its ink kept); an upright image and an empty one come
    back unchanged; deskew=True preprocesses the deskewed images."""
    slanted = np.zeros((1, 28, 28), np.uint8)
    for r in range(4, 24):
        slanted[0, r, 14 + (r - 14) // 2] = 200
    upright = preprocess.deskew_images(slanted)[0]
    assert upright.dtype == np.uint8 and abs(int(upright.sum()) - int(slanted.sum())) <= 0.02 * slanted.sum()
    columns = np.nonzero(upright)[1]
    assert columns.min() >= 13 and columns.max() <= 15                   # was spread over columns 9..18
    bar = np.zeros((2, 28, 28), np.uint8)
    bar[0, 4:24, 12:15] = 255
    assert np.array_equal(preprocess.deskew_images(bar), bar)              # upright, and empty
    images, _ = synthetic_digits(2, seed=3)
    once = preprocess.deskew_images(images)
    assert not np.array_equal(once, images)
    levels = preprocess.preprocess_transformed(images, preprocess.latents(1), 10, 6, deskew=True)
    assert np.array_equal(levels, preprocess.preprocess_transformed(once, preprocess.latents(1), 10, 6))


def test_scales_grow_or_shrink_the_image_about_its_centre():
    """A block in the middle of the image keeps its centre and grows by the factor; the
    scales are one more latent (27 transforms over the 9 shifts, one identity), and the
    flag takes factors besides 1 from 0.5 to 2."""
    import argparse
    block = np.zeros((1, 28, 28), np.uint8)
    block[0, 10:18, 10:18] = 255
    for factor, side in ((1.5, 12), (0.5, 4)):
        rows = np.flatnonzero(preprocess.scale_images(block, factor)[0].max(1) > 127)
        assert len(rows) == side and rows.min() + rows.max() == 27                     # centred on 13.5
    transforms = preprocess.latents(1, scales=(0.9, 1.1))
    assert len(transforms) == 27 and len({t.name for t in transforms}) == 27
    assert transforms[preprocess.identity_index(transforms)] == preprocess.Transform()
    assert preprocess.latents(1) == preprocess.latents(1, scales=(1,))
    assert util.scales_arg("1.1, 0.9") == (0.9, 1.1) and util.scales_arg("none") == ()
    for bad in ("1", "0.3", "x", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            util.scales_arg(bad)


def test_brightest_level_maps_to_255_without_wrapping():
    out = preprocess.levels_to_uint8(np.arange(7), 6)
    assert out[-1] == 255 and out[0] == 0
    assert np.all(np.diff(out.astype(int)) > 0)


def test_tile_grid_places_each_sample_in_its_tile():
    levels = np.zeros((6, 10, 10), np.uint8)
    levels[4] = 6                                  # row 1, column 1 of a 2x3 grid
    grid = util.tile_grid(levels, 2, 3, 32, 6)
    assert grid.shape == (64, 96) and grid.dtype == np.uint8
    assert (grid[32:64, 32:64] == 255).all()
    assert grid[:32].max() == 0 and grid[32:, :32].max() == 0 and grid[32:, 64:].max() == 0
