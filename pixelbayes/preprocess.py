"""What a model reads: the 28x28 image (deskewed, for models trained so) shrunk to
target_size x target_size and quantised to levels, read row by row or column by column,
forwards or backwards, or slice by slice (scan_order); and the latent transforms of the 28x28
image (shifts, rotations, scales, elastic deformations, strokes), one list that training's
augmentation and the classifier's mixture both take."""
import dataclasses

import numpy as np

MAX_SHIFT = 3           # the largest shift radius (pixels at 28x28) that the flags accept


def preprocess(images, target_size, max_intensity):
    """uint8 images (n, 28, 28) -> levels (n, target_size, target_size), uint8 in 0..max_intensity.

    Anti-aliased skimage resize of the whole batch at once (the batch axis is not
    smoothed or interpolated, so each image is resized on its own), back to uint8,
    then divided by factor = 256 / max_intensity and rounded.
    """
    from skimage.transform import resize
    from skimage.util import img_as_ubyte
    images = np.asarray(images, np.uint8)
    if images.ndim == 2:
        images = images[None]
    if len(images) == 0:
        return np.zeros((0, target_size, target_size), np.uint8)
    small = resize(images, (len(images), target_size, target_size), anti_aliasing=True)
    small = img_as_ubyte(np.clip(small, 0, 1))
    factor = 256 / max_intensity
    return np.round(small / factor).astype(np.uint8)


SCANS = ("rows", "columns", "rows_reversed", "columns_reversed", "subscale")


def subscale_permutation(size):
    """The subscale order of a size x size image (Menick and Kalchbrenner, 2019): the
    flat (row-major) index of each pixel read, in reading order; first the pixels (2i, 2j),
    a coarse copy of the whole image, then (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1), each
    slice row by row."""
    r, c = np.divmod(np.arange(size * size), size)
    return np.lexsort((c // 2, r // 2, c % 2, r % 2))


def scan_order(levels, scan, back=False):
    """Images (..., size, size) in the order a model of setting `scan` reads their pixels
    (row-major flattening reads them so), or with back=True from that order to the image:
    "rows" as they are, "columns" transposed, the "_reversed" orders the same read
    backwards, from the last pixel (the image turned by 180 degrees); these are their own
    inverse. "subscale" reads the image's four interleaved slices one after the other
    (subscale_permutation)."""
    if scan not in SCANS:
        raise ValueError(f"unknown scan {scan!r}; one of {', '.join(SCANS)}")
    if scan == "subscale":
        levels = np.asarray(levels)
        size = levels.shape[-1]
        perm = subscale_permutation(size)
        flat = levels.reshape(*levels.shape[:-2], size * size)
        return flat[..., np.argsort(perm) if back else perm].reshape(levels.shape)
    out = np.swapaxes(levels, -1, -2) if scan.startswith("columns") else levels
    return out[..., ::-1, ::-1] if scan.endswith("_reversed") else out


def shift_grid(radius):
    """The (2 radius + 1)^2 translations (dy, dx) of up to radius pixels; (0, 0) is in the middle."""
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def shift_images(images, dy, dx):
    """Translate images (n, h, w) by dy rows and dx columns; what comes in is 0 (background)."""
    images = np.asarray(images)
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def levels_to_uint8(levels, max_intensity):
    """Levels 0..max_intensity -> 0..255 (level max_intensity is 255, no wrap-around)."""
    return np.round(np.asarray(levels, np.float64) * (255.0 / max_intensity)).astype(np.uint8)


def _in_dtype_of(out, images):
    """A resampled float image back in the input's dtype (integers rounded and clipped)."""
    if np.issubdtype(images.dtype, np.integer):
        out = np.clip(np.round(out), 0, np.iinfo(images.dtype).max)
    return out.astype(images.dtype)


def rotate_images(images, degrees):
    """Rotate images (n, h, w) by `degrees` about their centre (bilinear, the corners that
    come in are 0, the background), back to the input's dtype."""
    from scipy import ndimage
    images = np.asarray(images)
    out = ndimage.rotate(images.astype(np.float32), degrees, axes=(1, 2), reshape=False, order=1,
                         mode="constant", cval=0.0)
    return _in_dtype_of(out, images)


def scale_images(images, factor):
    """Scale images (n, h, w) by `factor` about their centre (bilinear, what comes in is 0,
    the background), the same size, back to the input's dtype."""
    from scipy import ndimage
    images = np.asarray(images)
    centre = (np.array(images.shape[1:]) - 1) / 2
    out = ndimage.affine_transform(images.astype(np.float32), [1, 1 / factor, 1 / factor],
                                   offset=[0, *(centre * (1 - 1 / factor))], order=1, mode="constant", cval=0.0)
    return _in_dtype_of(out, images)


ELASTIC_ALPHA = 34.0    # elastic deformations at 28x28 (Simard, Steinkraus and Platt 2003): a
ELASTIC_SIGMA = 4.0     # field uniform in [-1, 1], Gaussian-smoothed (sigma), scaled (alpha)
ELASTIC_SEED = 7        # with the draw, seeds the fields (the shipped pixelcnn_elastic's)


def elastic_images(images, draw):
    """Each image (n, h, w) under its own elastic deformation: a random displacement field
    per image and axis, uniform in [-1, 1], Gaussian-smoothed with ELASTIC_SIGMA pixels and
    scaled by ELASTIC_ALPHA, then bilinear sampling (0 outside). `draw` (>= 1) seeds the
    fields: the same draw deforms the n-th image the same way every time."""
    from scipy import ndimage
    images = np.asarray(images)
    n, h, w = images.shape
    noise = np.random.default_rng([ELASTIC_SEED, draw]).uniform(-1, 1, size=(2, n, h, w))
    dy, dx = (ELASTIC_ALPHA * ndimage.gaussian_filter(f, (0, ELASTIC_SIGMA, ELASTIC_SIGMA), mode="constant")
              for f in noise)
    i, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
    out = ndimage.map_coordinates(images.astype(np.float32), [i, y + dy, x + dx], order=1,
                                  mode="constant", cval=0.0)
    return _in_dtype_of(out, images)


def deskew_images(images):
    """Each image (n, h, w) with its slant taken out: the horizontal shear about the image's
    intensity centroid that makes the intensity-weighted covariance of row and column zero
    (the moment-based deskewing of MNIST's classic results). Row r moves by alpha (r - r0),
    alpha = cov(row, column) / var(row), interpolated linearly along the row (0 outside);
    an empty image, or one whose ink lies in a single row, stays as it is."""
    images = np.asarray(images)
    x = images.astype(np.float64)
    n, h, w = x.shape
    rows, cols = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    mass = x.sum((1, 2))
    weight = np.where(mass > 0, 1 / np.maximum(mass, 1e-12), 0.0)
    r0 = np.einsum("nhw,h->n", x, rows) * weight
    c0 = np.einsum("nhw,w->n", x, cols) * weight
    dr, dc = rows[None, :] - r0[:, None], cols[None, :] - c0[:, None]          # (n, h), (n, w)
    var = np.einsum("nhw,nh,nh->n", x, dr, dr) * weight
    cov = np.einsum("nhw,nh,nw->n", x, dr, dc) * weight
    alpha = np.where(var > 1e-6, cov / np.maximum(var, 1e-6), 0.0)
    source = cols[None, None, :] + (alpha[:, None] * dr)[:, :, None]          # (n, h, w): where each pixel reads
    left = np.floor(source).astype(np.int64)
    frac = source - left
    out = np.zeros_like(x)
    for lo, share in ((left, 1 - frac), (left + 1, frac)):
        inside = (lo >= 0) & (lo < w)
        out += np.where(inside, np.take_along_axis(x, np.clip(lo, 0, w - 1), axis=2), 0.0) * share
    return _in_dtype_of(out.astype(np.float32), images)


def restroke(images, stroke, size=2):
    """Strokes made thicker (stroke 1: a size x size grey dilation) or thinner (-1: a grey erosion)."""
    from scipy import ndimage
    return (ndimage.grey_dilation if stroke > 0 else ndimage.grey_erosion)(images, size=(1, size, size))


@dataclasses.dataclass(frozen=True)
class Transform:
    """One value of the latent variables of a 28x28 image: a translation by dy rows and
    dx columns, then a rotation by `degrees` about the centre, then a scaling by `scale`
    about the centre, then the image's own elastic deformation number `elastic` (0: none;
    training's augmentation only), then a change of stroke width (`stroke`: -1 thinner, 1
    thicker). p(x | k) sums over them."""
    dy: int = 0
    dx: int = 0
    degrees: float = 0.0
    stroke: int = 0
    elastic: int = 0
    scale: float = 1.0

    @property
    def identity(self):
        return self == Transform()

    @property
    def name(self):
        return (f"shift({self.dy:+d},{self.dx:+d})" + (f" rotate({self.degrees:+g})" if self.degrees else "")
                + (f" scale({self.scale:g})" if self.scale != 1 else "")
                + (f" elastic({self.elastic})" if self.elastic else "")
                + (f" stroke({self.stroke:+d})" if self.stroke else ""))

    def apply(self, images):
        out = shift_images(images, self.dy, self.dx)
        out = rotate_images(out, self.degrees) if self.degrees else out
        out = scale_images(out, self.scale) if self.scale != 1 else out
        out = elastic_images(out, self.elastic) if self.elastic else out
        return restroke(out, self.stroke) if self.stroke else out


def latents(shifts=0, rotations=(), strokes=(), elastic=0, scales=()):
    """The latent transforms: each shift of shift_grid(shifts) with each rotation of
    (0, *rotations) degrees, each scale of (1, *scales), each of the image as it is and
    its `elastic` deformations, and each stroke change of (0, *strokes), shift by shift.
    Exactly one is the identity (identity_index); a new latent is one more field of
    Transform, applied in its apply, and one more loop here."""
    angles = (0.0,) + tuple(float(r) for r in rotations if r)
    widths = (0,) + tuple(int(k) for k in strokes if k)
    zooms = (1.0,) + tuple(float(z) for z in scales if z != 1)
    return [Transform(dy, dx, a, stroke=k, elastic=e, scale=z) for dy, dx in shift_grid(shifts) for a in angles
            for z in zooms for e in range(elastic + 1) for k in widths]


def identity_index(transforms):
    """The position of the identity among the transforms (the image as it is)."""
    return next(i for i, t in enumerate(transforms) if t.identity)


def preprocess_transformed(images, transforms, target_size, max_intensity, deskew=False):
    """Each transform applied to the 28x28 images (deskewed first with deskew), then
    preprocessed: levels (transforms, n, target_size, target_size)."""
    images = deskew_images(images) if deskew else images
    return np.stack([preprocess(t.apply(images), target_size, max_intensity) for t in transforms])
