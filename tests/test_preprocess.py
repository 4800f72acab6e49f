import numpy as np
from skimage.transform import resize
from skimage.util import img_as_ubyte

import config
import util
from conftest import synthetic_digits


def test_batch_preprocess_equals_per_image_loop():
    images, _ = synthetic_digits(5, seed=3)
    batch = util.preprocess(images)
    factor = 256 / config.max_intensity
    loop = np.stack([np.round(img_as_ubyte(resize(im, (10, 10), anti_aliasing=True)) / factor)
                     for im in images]).astype(np.uint8)
    assert batch.shape == (len(images), 10, 10)
    assert np.array_equal(batch, loop)
    assert batch.max() == config.max_intensity and batch.min() == 0


def test_sequences_start_with_zero_vector_and_targets_are_shifted():
    levels = np.random.default_rng(0).integers(0, 7, (3, 10, 10))
    x, y = util.to_sequences(levels, 7)
    assert x.shape == y.shape == (3, 101, 7)
    assert not x[:, 0].any()                        # the start input
    assert not y[:, -1].any()                       # the sentinel target
    assert np.array_equal(x[:, 1:], y[:, :-1])      # targets = inputs shifted left
    assert np.array_equal(x[:, 1:].argmax(-1), levels.reshape(3, -1))


def test_brightest_level_maps_to_255_without_wrapping():
    out = util.levels_to_uint8(np.arange(7), 6)
    assert out[-1] == 255 and out[0] == 0
    assert np.all(np.diff(out.astype(int)) > 0)


def test_tile_grid_places_each_sample_in_its_tile():
    levels = np.zeros((6, 10, 10), np.uint8)
    levels[4] = 6                                  # row 1, column 1 of a 2x3 grid
    grid = util.tile_grid(levels, 2, 3, 32, 6)
    assert grid.shape == (64, 96) and grid.dtype == np.uint8
    assert (grid[32:64, 32:64] == 255).all()
    assert grid[:32].max() == 0 and grid[32:, :32].max() == 0 and grid[32:, 64:].max() == 0
