"""Changes of our own to 28x28 digits: what a user's image may have (paper that is not
black, dark ink on light paper, a shadow, a band of the other polarity, noise, specks,
another pen, a stray stroke, a smudge, a digit small or off centre). The robust settings are chosen on held-out training images
under these, never under the benchmark's corruptions (corruptions.py). Each takes uint8
images (n, 28, 28) and a numpy Generator and returns uint8 images; the same seed gives
the same images."""
import numpy as np

from .preprocess import restroke, rotate_images, scale_images, shift_images


def _uint8(x):
    return np.round(np.clip(x, 0, 255)).astype(np.uint8)


def _ink(images):
    return np.asarray(images, np.float64) / 255.0


def grey_paper(images, rng):
    """Light ink on grey paper: the paper at a level from 64 to 192, the ink from 60 levels above it to white."""
    paper = rng.uniform(64, 192, (len(images), 1, 1))
    ink = rng.uniform(paper + 60, 255)
    return _uint8(paper + _ink(images) * (np.minimum(ink, 255) - paper))


def dark_on_light(images, rng):
    """Dark ink on light paper: the paper from 170 to 255, the ink from 0 to 80."""
    paper, ink = rng.uniform(170, 255, (len(images), 1, 1)), rng.uniform(0, 80, (len(images), 1, 1))
    return _uint8(paper - _ink(images) * (paper - ink))


def gradient_paper(images, rng):
    """Paper that darkens or lightens across the image: a linear ramp from 0 to 60..160 in a random direction."""
    n = len(images)
    angle, top = rng.uniform(0, 2 * np.pi, n), rng.uniform(60, 160, n)
    r, c = np.mgrid[0:28, 0:28] / 27.0
    ramp = np.cos(angle)[:, None, None] * r + np.sin(angle)[:, None, None] * c
    ramp -= ramp.min((1, 2), keepdims=True)
    ramp /= ramp.max((1, 2), keepdims=True)
    return _uint8(np.asarray(images, np.float64) + top[:, None, None] * ramp)


def blotchy_paper(images, rng):
    """Stained paper: white noise smoothed by a Gaussian of 3 pixels, stretched to 0..40..140, added."""
    from scipy import ndimage
    field = ndimage.gaussian_filter(rng.normal(size=np.shape(images)), (0, 3, 3))
    field -= field.min((1, 2), keepdims=True)
    field /= field.max((1, 2), keepdims=True)
    return _uint8(np.asarray(images, np.float64) + rng.uniform(40, 140, (len(images), 1, 1)) * field)


def specks(images, rng, share=0.08):
    """Dust: 8% of the pixels replaced by a level drawn from 0..255."""
    x = np.array(images, np.float64)
    hit = rng.random(x.shape) < share
    x[hit] = rng.uniform(0, 255, hit.sum())
    return _uint8(x)


def noise(images, rng, sigma=48):
    """Gaussian noise of 48 levels on every pixel."""
    return _uint8(np.asarray(images, np.float64) + rng.normal(0, sigma, np.shape(images)))


def stray_stroke(images, rng):
    """A straight stroke 2 pixels wide from one random point of the border to another."""
    from skimage.draw import line
    x = np.array(images)
    for im in x:
        (r0, r1), (c0, c1) = rng.integers(0, 28, (2, 2))
        if rng.random() < 0.5:
            c0, c1 = 0, 27
        else:
            r0, r1 = 0, 27
        rr, cc = line(r0, c0, r1, c1)
        im[rr, cc] = 255
        im[np.minimum(rr + 1, 27), cc] = 255
    return x


def smudge(images, rng, side=7):
    """A black square of 7 pixels over a random place of the digit's middle."""
    x = np.array(images)
    for im, (r, c) in zip(x, rng.integers(6, 22 - side, (len(x), 2))):
        im[r:r + side, c:c + side] = 0
    return x


def shifted(images, rng, pixels=3):
    """Moved by 3 pixels in one of the 8 directions, drawn per image."""
    moves = [(dy, dx) for dy in (-pixels, 0, pixels) for dx in (-pixels, 0, pixels) if (dy, dx) != (0, 0)]
    pick = rng.integers(len(moves), size=len(images))
    out = np.empty_like(np.asarray(images))
    for k, (dy, dx) in enumerate(moves):
        out[pick == k] = shift_images(images[pick == k], dy, dx)
    return out


def rotated(images, rng, degrees=20):
    """Rotated by 20 degrees about the centre, either way."""
    sign = rng.choice([-1, 1], size=len(images))
    out = np.empty_like(np.asarray(images))
    for s in (-1, 1):
        out[sign == s] = rotate_images(images[sign == s], s * degrees)
    return out


def shadow(images, rng):
    """Dark ink on light paper (dark_on_light), a straight-edged shadow over 20 to 60% of the
    sheet, at any angle, darkening paper and ink there to a quarter to a half."""
    x = dark_on_light(images, rng).astype(np.float64)
    rows, cols = np.mgrid[:28, :28] - 13.5
    for im, angle, share, dim in zip(x, rng.uniform(0, 2 * np.pi, len(x)), rng.uniform(0.2, 0.6, len(x)),
                                     rng.uniform(0.25, 0.5, len(x))):
        along = rows * np.cos(angle) + cols * np.sin(angle)
        im[along > np.quantile(along, 1 - share)] *= dim
    return _uint8(x)


def band(images, rng):
    """A band of the sheet in the other polarity (a strip of tape, a label, a selection on a
    screen): between two parallel straight edges at any angle, 6 to 16 pixels apart, within
    10 pixels of the centre, the image inverted."""
    rows, cols = np.mgrid[:28, :28] - 13.5
    x = np.array(images)
    for im, angle, low, width in zip(x, rng.uniform(0, np.pi, len(x)), rng.uniform(-10, 4, len(x)),
                                     rng.uniform(6, 16, len(x))):
        along = rows * np.cos(angle) + cols * np.sin(angle)
        inside = (along > low) & (along < low + width)
        im[inside] = 255 - im[inside]
    return x


def blurred(images, rng, sigma=1.0):
    from scipy import ndimage
    return _uint8(ndimage.gaussian_filter(np.asarray(images, np.float64), (0, sigma, sigma)))


CHANGES = {"grey_paper": grey_paper, "dark_on_light": dark_on_light, "gradient_paper": gradient_paper,
           "blotchy_paper": blotchy_paper, "specks": specks, "noise": noise,
           "thicker": lambda x, rng: restroke(x, 1, size=3), "thinner": lambda x, rng: restroke(x, -1),
           "blur": blurred, "stray_stroke": stray_stroke, "smudge": smudge,
           "small": lambda x, rng: scale_images(x, 0.75), "large": lambda x, rng: scale_images(x, 1.2),
           "shifted": shifted, "rotated": rotated, "shadow": shadow, "band": band}


def change(images, name, seed=0):
    """The images under our change `name` ("identity": as they are), drawn from `seed`."""
    images = np.asarray(images, np.uint8)
    if name == "identity":
        return images.copy()
    return CHANGES[name](images, np.random.default_rng([seed, 100 + list(CHANGES).index(name)]))
