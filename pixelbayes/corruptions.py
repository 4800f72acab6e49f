"""MNIST-C's 15 corruptions (Mu and Gilmer, "MNIST-C: A Robustness Benchmark for Computer
Vision", 2019), written here in numpy and scikit-image from the paper and the parameters
of its public reference code (google-research/mnist-c, corruptions.py: each corruption at
the severity that code uses for the benchmark). Each takes uint8 images (n, 28, 28) and a
numpy Generator and returns uint8 images (n, 28, 28); the same seed gives the same images.
Only the benchmark uses them: models never train on a corruption.

Where the reference code's behaviour differs from its text, this follows the code (what
the published dataset was made with): its glass blur calls scikit-image's Gaussian with
`multichannel=True` on a grey image, which blurs along the rows' axis only; its motion
blur is ImageMagick's (a one-sided Gaussian trail, radius 10, sigma 3, at an angle drawn
from -45 to 45 degrees), written here in numpy."""
import numpy as np

SIZE = 28
CENTRE = 13.5


def _float(images):
    return np.asarray(images, np.float64) / 255.0


def _uint8(x):
    """Floats in [0, 1] back to uint8 0..255."""
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def _gaussian(x, sigma, axes=(0, 1)):
    """scikit-image's gaussian (scipy's filter, mode 'nearest', truncate 4) of one image, along axes."""
    from scipy import ndimage
    return ndimage.gaussian_filter(x, [sigma if a in axes else 0 for a in range(x.ndim)], mode="nearest", truncate=4.0)


def shot_noise(images, rng):
    """Poisson noise: each pixel a Poisson count of rate 3 x its intensity, over 3."""
    return _uint8(rng.poisson(_float(images) * 3) / 3.0)


def impulse_noise(images, rng, amount=0.17):
    """Salt and pepper: 17% of the pixels set to white or black, half each."""
    x = _float(images)
    flipped, salted = rng.random(x.shape) <= amount, rng.random(x.shape) <= 0.5
    x[flipped & salted], x[flipped & ~salted] = 1.0, 0.0
    return _uint8(x)


def glass_blur(images, rng, sigma=0.7, delta=1, iterations=2):
    """Blurred (along the rows' axis, as the reference code does), each pixel swapped with a
    neighbour up to `delta` above and to the left with probability 1/2, scanning from the
    bottom right, twice, and blurred again."""
    x = np.stack([(_gaussian(im, sigma, axes=(0,)) * 255).astype(np.uint8) for im in _float(images)])
    n, rows = len(x), np.arange(len(x))
    for _ in range(iterations):
        for h in range(SIZE - delta, delta, -1):
            for w in range(SIZE - delta, delta, -1):
                swap = rng.random(n) < 0.5
                dx, dy = rng.integers(-delta, delta, size=(2, n))
                i, hp, wp = rows[swap], h + dy[swap], w + dx[swap]
                x[i, h, w], x[i, hp, wp] = x[i, hp, wp], x[i, h, w]
    return _uint8(np.stack([_gaussian(im / 255.0, sigma, axes=(0,)) for im in x]))


def motion_blur(images, rng, radius=10, sigma=3.0):
    """ImageMagick's motion blur: each pixel the Gaussian-weighted mean (weights
    exp(-i^2 / 2 sigma^2), i = 0..2 radius) of the pixels i steps along the angle, at the
    nearest pixel, edges extended; the angle drawn per image from -45 to 45 degrees."""
    width = 2 * radius + 1
    weights = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    weights /= weights.sum()
    out = np.empty(np.shape(images), np.float64)
    for k, (im, angle) in enumerate(zip(_float(images), rng.uniform(-45, 45, len(images)))):
        pad = np.pad(im, width, mode="edge")
        a = np.deg2rad(angle)
        acc = np.zeros_like(im)
        for i, wgt in enumerate(weights):
            ox, oy = int(np.ceil(i * np.cos(a) - 0.5)), int(np.ceil(i * np.sin(a) - 0.5))
            acc += wgt * pad[width + oy:width + oy + SIZE, width + ox:width + ox + SIZE]
        out[k] = acc
    return _uint8(out)


def _affine(images, matrix):
    """Each image warped by the 2x2 matrix about the centre (13.5, 13.5): the output pixel
    (column, row) p reads the input at matrix p + t, t keeping the centre fixed (bilinear, 0 outside)."""
    from skimage.transform import AffineTransform, warp
    m = np.eye(3)
    m[:2, :2] = matrix
    m[:2, 2] = CENTRE * (1 - np.asarray(matrix).sum(1))
    return np.stack([warp(im, inverse_map=AffineTransform(matrix=m), order=1, mode="constant", cval=0.0)
                     for im in _float(images)])


def shear(images, rng, angle=0.4):
    """Sheared by 0.4 radians about the centre, either way (the reference's skimage matrix)."""
    signs = rng.choice([-1, 1], size=len(images))
    out = np.empty(np.shape(images), np.float64)
    for s in (-1, 1):
        pick = signs == s
        out[pick] = _affine(images[pick], [[1, -np.sin(s * angle)], [0, np.cos(s * angle)]])
    return _uint8(out)


def rotate(images, rng, angle=0.4):
    """Rotated by 0.4 radians (23 degrees) about the centre, either way."""
    signs = rng.choice([-1, 1], size=len(images))
    out = np.empty(np.shape(images), np.float64)
    for s in (-1, 1):
        c, si = np.cos(s * angle), np.sin(s * angle)
        out[signs == s] = _affine(images[signs == s], [[c, -si], [si, c]])
    return _uint8(out)


def scale(images, rng, factor=0.7):
    """Shrunk to 0.7 of its size about the centre."""
    return _uint8(_affine(images, np.eye(2) / factor))


def translate(images, rng, pixels=3):
    """Moved by 3 pixels along each axis, each direction drawn at random (what comes in is 0)."""
    from .preprocess import shift_images
    signs = rng.choice([-1, 1], size=(len(images), 2))
    out = np.empty_like(np.asarray(images))
    for sy in (-1, 1):
        for sx in (-1, 1):
            pick = (signs[:, 0] == sx) & (signs[:, 1] == sy)
            out[pick] = shift_images(images[pick], -pixels * sy, -pixels * sx)
    return out


def brightness(images, rng, amount=0.5):
    """Brighter by half the range: the value of HSV raised by 0.5 (for grey: x + 0.5, clipped)."""
    return _uint8(_float(images) + amount)


def stripe(images, rng):
    """The 7 columns at each side inverted."""
    x = np.array(images, np.uint8)
    x[:, :, :7] = 255 - x[:, :, :7]
    x[:, :, 21:] = 255 - x[:, :, 21:]
    return x


def plasma_fractal(rng, mapsize=256, decay=1.4):
    """The diamond-square height map of the reference code, in [0, 1] (mapsize x mapsize)."""
    m = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wibbled(a):
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)
    while step >= 2:
        half = step // 2
        corner = m[0:mapsize:step, 0:mapsize:step]
        square = corner + np.roll(corner, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        m[half:mapsize:step, half:mapsize:step] = wibbled(square)
        dr, ul = m[half:mapsize:step, half:mapsize:step], m[0:mapsize:step, 0:mapsize:step]
        m[0:mapsize:step, half:mapsize:step] = wibbled(dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1))
        m[half:mapsize:step, 0:mapsize:step] = wibbled(dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0))
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / m.max()


def fog(images, rng, strength=3.0, decay=1.4):
    """A fractal fog (plasma_fractal's top left 28x28) added at 3 times the range, the sum
    scaled back by max / (max + 3)."""
    out = []
    for im in _float(images):
        top = im.max()
        out.append((im + strength * plasma_fractal(rng, decay=decay)[:SIZE, :SIZE]) * top / (top + strength))
    return _uint8(np.stack(out))


def spatter(images, rng, loc=0.65, spread=0.3, sigma=1.0, threshold=0.65, mask_sigma=1.5):
    """Mud: a thresholded, blurred Gaussian field, its blobs painted dark grey (63) over the image."""
    out = []
    for im in _float(images):
        liquid = _gaussian(rng.normal(loc, spread, im.shape), sigma)
        liquid[liquid < threshold] = 0
        mask = _gaussian((liquid > threshold).astype(np.float64), mask_sigma)
        mask[mask < 0.8] = 0
        out.append(im * (1 - mask) + 63 / 255 * mask)
    return _uint8(np.stack(out))


def line_from_points(c0, r0, c1, r1):
    """The reference code's line: intensity log(1 - d / 2.3) + 1 at distance d from the line
    through (c0, r0) and (c1, r1), between columns floor(c0) and ceil(c1)."""
    if c1 == c0:
        return np.zeros((SIZE, SIZE))
    cc, rr = np.meshgrid(np.linspace(0, SIZE - 1, SIZE), np.linspace(0, SIZE - 1, SIZE), sparse=True)
    dist = np.clip(np.abs(rr - ((r1 - r0) / (c1 - c0) * (cc - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - dist / 2.3) + 1, 0, 1)
    line[:, :int(np.floor(c0))] = 0
    line[:, int(np.ceil(c1)):] = 0
    return line


def dotted_line(images, rng):
    """A dashed line across, from a random row at the left to one at the right, two columns on, two off."""
    out = []
    for im in _float(images):
        r0, r1 = rng.integers(0, SIZE - 1, size=2)
        line = line_from_points(0, r0, SIZE - 1, r1)
        for i in range(0, SIZE, 4):
            line[:, i:i + 2] = 0
        out.append(im + line)
    return _uint8(np.stack(out))


def zigzag(images, rng, a=2.0, b=2.0):
    """A zigzag line across (segments of length `a`, amplitude `b`), from a random row, at a small slope."""
    out = []
    for im in _float(images):
        c0, c1 = 2, 25
        r0 = rng.integers(0, SIZE - 1)
        r1 = r0 + rng.integers(-5, 5)
        theta = np.arctan((r1 - r0) / (c1 - c0))
        d = (c1 - c0) / np.cos(theta)
        ends = [(0.0, 0.0)]
        for i in range(int((d - a) // (2 * a)) + 1):
            ends.append(((2 * i + 1) * a, (-1) ** i * b))
        last = ends[-1][1]
        whole = 2 * a * (d // (2 * a))
        if d != whole:
            ends.append((d, last / (2 * (d - whole))))
        cs, rs = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.array(ends).T
        cs, rs = cs + c0, rs + r0
        x = im.copy()
        for i in range(1, len(cs)):
            x = np.clip(x + line_from_points(cs[i - 1], rs[i - 1], cs[i], rs[i]), 0, 1)
        out.append(x)
    return _uint8(np.stack(out))


def canny_edges(images, rng):
    """Only the edges that scikit-image's Canny detector finds (sigma 1), white on black."""
    from skimage import feature
    return np.stack([feature.canny(im) for im in _float(images)]).astype(np.uint8) * 255


CORRUPTIONS = {"shot_noise": shot_noise, "impulse_noise": impulse_noise, "glass_blur": glass_blur,
               "motion_blur": motion_blur, "shear": shear, "scale": scale, "rotate": rotate,
               "brightness": brightness, "translate": translate, "stripe": stripe, "fog": fog,
               "spatter": spatter, "dotted_line": dotted_line, "zigzag": zigzag, "canny_edges": canny_edges}


def corrupt(images, name, seed=0):
    """The images under MNIST-C's corruption `name` ("identity": as they are), its random
    parts drawn from `seed` and the corruption's place in the list: the same images every time."""
    images = np.asarray(images, np.uint8)
    if name == "identity":
        return images.copy()
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name)])
    return CORRUPTIONS[name](images, rng)
