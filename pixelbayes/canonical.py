"""The canonical form of a digit: whatever the paper and the pen, light ink on black
paper in MNIST's frame, as MNIST's digits are, before the models see it. The same for
MNIST's arrays, a user's arrays and a user's files (images.mnist_form).

Ink is what differs from the paper, brighter or darker: the paper's level at each pixel is
the median of the row around it and then of the column around that (a window nearly the
image's size), so grey, foggy or stained paper, and paper whose level or polarity changes
across the image, are not ink; the ink is the distance from the paper, stretched so that
the strongest ink is white, and what stays below a floor is paper. Specks (8-connected
bits of ink of a few pixels) are removed. Strokes much thinner or thicker than MNIST's are
brought towards its width, and a digit much smaller, larger or further off centre than
MNIST's is put in its frame (a 20x20 box, centred by its mass). A clean MNIST digit passes
unchanged: black paper, white ink, a usual pen, in its frame."""
import numpy as np

WINDOW = 27 / 28     # the median windows' length, as a share of the image's side
FLOOR = 0.2          # share of the strongest ink below which a pixel is paper
SPECK = 3            # 8-connected bits of ink of fewer pixels are removed
BLANK = 32           # an image whose strongest ink is below this many levels is blank
CLEAN = 8            # paper of one level (within this many), three quarters of the pixels within
                     # this many of it, is clean paper: its ink is only stretched, not floored
STROKE = (1.66, 5.44)    # MNIST's stroke widths (ink area over skeleton length, pixels at
                         # 28x28, ink above half): the 2nd and 98th percentiles of its training images
BOX, SIZE = 20, 28       # MNIST: the digit fits a 20x20 box, centred by mass in 28x28
MASS = 0.01             # the ink box leaves out this share of the ink (stray pixels)
FRAME = (16, 23, 2.5)    # in its frame: the box's longer side from 16 to 23, the centre of
                         # mass within 2.5 pixels of the image's centre


def paper(images, most=64):
    """The paper's level under each pixel of float images (n, h, w): the median of the row
    window, then of the column window, each WINDOW of the side long (odd), edges extended;
    an image larger than `most` pixels a side is estimated at that size and scaled back."""
    from scipy import ndimage
    from skimage.transform import resize
    n, h, w = images.shape
    if max(h, w) > most:
        shape = (n, max(1, round(h * most / max(h, w))), max(1, round(w * most / max(h, w))))
        return resize(paper(resize(images, shape, anti_aliasing=True), most), images.shape, order=1)
    side = max(3, int(round(WINDOW * max(h, w))) | 1)
    rows = ndimage.median_filter(images, size=(1, 1, side), mode="nearest")
    return ndimage.median_filter(rows, size=(1, side, 1), mode="nearest")


def remove_specks(mask, smallest):
    """The mask (h, w) less its 8-connected parts of fewer than `smallest` pixels."""
    from scipy import ndimage
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    keep = np.bincount(labels.ravel(), minlength=count + 1) >= smallest
    keep[0] = False
    return keep[labels]


def stroke_width(level):
    """Ink area over skeleton length of one image's ink (levels 0..1), ink above half."""
    from skimage.morphology import skeletonize
    mask = level > 0.5
    return mask.sum() / max(1, skeletonize(mask).sum())


def even_strokes(level, low=STROKE[0], high=STROKE[1], steps=2):
    """Strokes thinner than `low` thickened (a grey dilation by a cross), thicker than `high`
    thinned (a grey erosion by a cross), up to `steps` times; others as they are."""
    from scipy import ndimage
    cross = ndimage.generate_binary_structure(2, 1)
    for _ in range(steps):
        width = stroke_width(level)
        if low <= width <= high or not (level > 0.5).any():
            break
        level = (ndimage.grey_dilation if width < low else ndimage.grey_erosion)(level, footprint=cross)
    return level


def ink_box(level, share=MASS):
    """The rows and columns (first, last) between which all but `share` of the ink lies
    (half of it on each side), so that a few stray pixels do not stretch the box."""
    def span(profile):
        if not share:
            inked = np.flatnonzero(profile)
            return int(inked[0]), int(inked[-1])
        cum = np.cumsum(profile) / profile.sum()
        return int(np.searchsorted(cum, share / 2)), int(np.searchsorted(cum, 1 - share / 2))
    return span(level.sum(1)), span(level.sum(0))


def frame(level, always=False):
    """One image's ink (levels 0..1, any size) in MNIST's frame, 28x28: cropped to the ink
    (ink_box: all of it where `always`, as for a file, whose specks are gone; else all but
    MASS), scaled to fit a 20x20 box keeping its aspect ratio (anti-aliased), placed by its
    centre of mass. Unless `always`, a 28x28 image already in the frame (FRAME) is kept as
    it is."""
    from skimage.transform import resize
    if not level.any():
        return np.zeros((SIZE, SIZE))
    (r0, r1), (c0, c1) = ink_box(level, 0.0 if always else MASS)
    crop = level[r0:r1 + 1, c0:c1 + 1]
    if not always and level.shape == (SIZE, SIZE):
        mass = level.sum()
        centre = [(level.sum(1 - ax) * np.arange(SIZE)).sum() / mass for ax in (0, 1)]
        if FRAME[0] <= max(crop.shape) <= FRAME[1] and max(abs(c - (SIZE - 1) / 2) for c in centre) <= FRAME[2]:
            return level
    scale = BOX / max(crop.shape)
    shape = tuple(max(1, int(round(n * scale))) for n in crop.shape)
    small = np.clip(resize(crop, shape, anti_aliasing=scale < 1), 0, 1)
    centre = [(small.sum(1 - ax) * np.arange(n)).sum() / small.sum() for ax, n in enumerate(shape)]
    top_left = [int(np.clip(round(SIZE / 2 - c), 0, SIZE - n)) for c, n in zip(centre, shape)]   # MNIST: mass at 14
    out = np.zeros((SIZE, SIZE))
    out[top_left[0]:top_left[0] + shape[0], top_left[1]:top_left[1] + shape[1]] = small
    return out


def ink_levels(images, floor=FLOOR, speck=SPECK):
    """Grey images (n, h, w), any paper and pen -> ink (n, h, w) in 0..1 on black paper: the
    distance from the paper, stretched to the strongest ink, the floor taken out (not on
    clean paper, CLEAN), specks removed; a blank image (no ink above BLANK
    levels) all zero."""
    x = np.asarray(images, np.float64)
    under = paper(x)
    dev = np.abs(x - under)
    flat = dev.reshape(len(x), -1)
    top = np.percentile(flat, 99.5, axis=1)[:, None, None]
    level = np.clip((np.clip(dev / np.maximum(top, 1e-9), 0, 1) - floor) / (1 - floor), 0, 1)
    u = under.reshape(len(x), -1)
    clean = (u.max(1) - u.min(1) <= CLEAN) & (np.percentile(flat, 75, axis=1) <= CLEAN)
    level[clean] = np.clip(dev[clean] / np.maximum(top[clean], 1e-9), 0, 1)
    level[top[:, 0, 0] < BLANK] = 0
    if speck > 1:
        level *= np.stack([remove_specks(lv > 0, speck) for lv in level])
    return level


def has_ink(images):
    """For each image (n, h, w), whether it holds any ink (ink_levels), specks aside."""
    return ink_levels(images).reshape(len(images), -1).any(1)


def canonical(images, strokes=False, refit=True, **ink):
    """uint8 images (n, 28, 28), any paper and pen -> uint8 images (n, 28, 28) of light ink
    on black paper, strokes of MNIST's widths, in MNIST's frame (ink_levels, even_strokes, frame)."""
    out = []
    for level in ink_levels(images, **ink):
        level = even_strokes(level) if strokes else level
        out.append(frame(level) if refit else level)
    return np.round(np.stack(out) * 255).astype(np.uint8) if out else np.zeros((0, SIZE, SIZE), np.uint8)
