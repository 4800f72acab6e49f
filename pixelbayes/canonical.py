"""The canonical form of a digit: whatever the paper and the pen, light ink on black
paper in MNIST's frame, as MNIST's digits are, before the models see it. The same for
MNIST's arrays, a user's arrays and a user's files (images.mnist_form).

Ink is what differs from the paper, brighter or darker: the paper's level at each pixel is
the median of the row around it and then of the column around that (a window nearly the
image's size), so grey, foggy or stained paper, and paper whose level changes slowly across
the image, are not ink; where the paper instead steps across straight edges (a shadow, a
page's edge, a band of another paper or polarity) and one level per region fits it better,
the paper is those regions (paper_regions), and the ink in each is its share of the way
from the region's paper to black or white, on the side where the region's ink lies. The
ink is stretched so that the strongest is white, and what stays below a floor is paper. Specks (8-connected
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


EDGED = True        # the paper may have straight edges (paper_regions); False: the medians' paper alone
EDGES = 36          # the directions a paper's straight edge may take (every 5 degrees)
LEAST = 0.1         # a region of paper covers at least this share of the image
CONTRAST = 48       # two regions' papers differ by at least this many levels
FLAT = 0.6          # and in each, at least this share of the pixels is within CONTRAST / 2 of its paper
PENALTY = 4         # levels per pixel that each edge must save (L1)
TOLERANCE = 1.0     # an edged paper must fit at least as well as the medians' (misfit)


def misfit(x, paper):
    """How badly a paper fits an image: the L1 distance, each pixel's at most CONTRAST (ink
    costs the same on either side of an edge, so it does not pull the edge)."""
    return np.minimum(np.abs(x - paper), CONTRAST).sum()


def _slabs(x, inside, angles, offsets, bins):
    """Histograms of the levels of the pixels `inside` one image x (h, w), by the slab
    between consecutive offsets (shares of the longer side from the centre) that they lie in
    along each angle's direction: (angles, offsets + 1, bins), cumulated over the slabs."""
    h, w = x.shape
    r, c = np.mgrid[:h, :w]
    u, v = ((c - (w - 1) / 2) / max(h, w))[inside], ((r - (h - 1) / 2) / max(h, w))[inside]
    level = np.minimum((x[inside] * bins / 256).astype(int), bins - 1)
    proj = np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v               # (angles, pixels)
    slab = np.searchsorted(offsets, proj)                                          # below offsets[j]: slab <= j
    shape = (len(angles), len(offsets) + 1, bins)
    index = (np.arange(len(angles))[:, None] * shape[1] + slab) * bins + level[None]
    return np.cumsum(np.bincount(index.ravel(), minlength=np.prod(shape)).reshape(shape), 1).astype(np.float64)


def _cost(hist, bins=64):
    """(misfit to their median, count) of the pixels that histograms (..., bins) count."""
    centres = (np.arange(bins) + 0.5) * 256 / bins
    n = hist.sum(-1)
    med = np.argmax(np.cumsum(hist, -1) >= n[..., None] / 2, -1)
    return (hist * np.minimum(np.abs(centres - centres[med][..., None]), CONTRAST)).sum(-1), n


def _best_edge(x, inside, angles, offsets, bins=64):
    """The straight edge (cost, angle, offset) that best splits the pixels `inside` (bool,
    h x w) of one image x into two papers of one level each (their medians; cost: misfit),
    each side at least LEAST of the image; angles (radians) and offsets are those tried.
    (inf, 0, 0) where none fits."""
    cum = _slabs(x, inside, angles, offsets, bins)
    (cb, nb), (ca, na) = _cost(cum[:, :-1]), _cost(cum[:, -1:] - cum[:, :-1])
    total = np.where(np.minimum(nb, na) < LEAST * x.size, np.inf, cb + ca)
    a, j = np.unravel_index(np.argmin(total), total.shape)
    return total[a, j], angles[a], offsets[j]


def _best_band(x, angles, offsets, bins=64):
    """The band between two parallel edges (cost, angle, low, high) that best splits one
    image into three papers of one level each (the band and either side; misfit), each at
    least LEAST of the image."""
    full = _slabs(x, np.ones(x.shape, bool), angles, offsets, bins)
    cum = full[:, :-1]                                                              # up to offsets[j]
    (cl, nl), (ch, nh) = _cost(cum), _cost(full[:, -1:] - cum)
    low, high = np.triu_indices(len(offsets), 1)
    band, nband = _cost(cum[:, high] - cum[:, low])                                 # [a, pair]
    total = cl[:, low] + band + ch[:, high]
    small = np.minimum(np.minimum(nl[:, low], nh[:, high]), nband) < LEAST * x.size
    a, pair = np.unravel_index(np.argmin(np.where(small, np.inf, total)), total.shape)
    return np.where(small, np.inf, total)[a, pair], angles[a], offsets[low[pair]], offsets[high[pair]]


def _border(h, w):
    """The image's border: a ring of a fourteenth of the side, at least 2 pixels (bool, h x w)."""
    ring = max(2, round(max(h, w) / 14))
    border = np.ones((h, w), bool)
    border[ring:h - ring, ring:w - ring] = False
    return border


def _papery(x, region):
    """Whether a region of one image looks like paper: at least FLAT of its pixels within
    CONTRAST / 2 of its median, and the same level (so) where it meets the image's border
    (_border) over at least a side's length of pixels, as paper does and a thick stroke's
    inside does not."""
    h, w = x.shape
    level, edge = np.median(x[region]), x[region & _border(h, w)]
    return (np.mean(np.abs(x[region] - level) < CONTRAST / 2) >= FLAT and edge.size >= max(h, w)
            and abs(np.median(edge) - level) < CONTRAST / 2)


def _fitted_edge(x, inside):
    """_best_edge over EDGES directions and offsets every half pixel, then refined about the
    best to a tenth of that angle and a quarter of a pixel."""
    side = max(x.shape)
    step = np.pi / EDGES
    cost, angle, offset = _best_edge(x, inside, np.arange(EDGES) * step, np.arange(-side, side + 1) / (2 * side))
    if not np.isfinite(cost):
        return cost, angle, offset
    return _best_edge(x, inside, angle + np.linspace(-step, step, 21), offset + np.arange(-4, 5) / (4 * side))


def _fitted_band(x):
    """_best_band over EDGES directions and offsets every pixel, then refined about the best
    to a tenth of that angle and a quarter of a pixel: (cost, angle, low, high)."""
    side = max(x.shape)
    step = np.pi / EDGES
    cost, angle, low, high = _best_band(x, np.arange(EDGES) * step, np.arange(-side // 2, side // 2 + 1) / side)
    if not np.isfinite(cost):
        return cost, angle, low, high
    near = np.arange(-4, 5) / (4 * side)
    return _best_band(x, angle + np.linspace(-step, step, 11), np.concatenate([low + near, high + near]))


def _split_models(x, along):
    """The candidate papers of one image as (labels, edges): the best single edge, that
    edge with the best second edge in either part, and the best band between two parallel
    edges (along(angle): each pixel's position in that direction)."""
    models = []
    cost, angle, offset = _fitted_edge(x, np.ones(x.shape, bool))
    if np.isfinite(cost):
        one = (along(angle) >= offset).astype(int)
        models.append((one, 1))
        parts = [misfit(x[one == k], np.median(x[one == k])) for k in (0, 1)]
        trials = [(*_fitted_edge(x, one == k), k) for k in (0, 1)]
        cost, angle, offset, k = min(trials, key=lambda t: t[0] - parts[t[3]])
        if np.isfinite(cost):
            models.append((np.where((one == k) & (along(angle) >= offset), 2, one), 2))
    cost, angle, low, high = _fitted_band(x)
    if np.isfinite(cost):
        models.append(((along(angle) > low).astype(int) + (along(angle) > high), 2))
    return models


def paper_regions(x, smooth):
    """The regions of one image's paper (h, w) ints, or None: a sheet whose paper changes
    across straight edges (a shadow, a page's edge, a band of another paper or polarity) is
    split by one edge, two, or a band between two parallel ones (_split_models) into regions
    of one paper level each, where each region looks like paper (_papery), each differs from
    another by CONTRAST, each edge saves PENALTY levels a pixel (misfit) and the whole fits
    the image at least as well as `smooth`, the paper the medians give (TOLERANCE): a step,
    not a slope. Of those that pass, the one that fits best, each edge costing PENALTY."""
    h, w = x.shape
    ring = np.sort(x[_border(h, w)])
    least = -(-max(h, w) // 2)              # half of what a region shows of the border (_papery)
    if ring[-least] <= ring[least - 1]:     # so two papers CONTRAST apart show it two levels: not here
        return None
    r, c = np.mgrid[:h, :w]
    u, v = (c - (w - 1) / 2) / max(h, w), (r - (h - 1) / 2) / max(h, w)
    limit, whole = TOLERANCE * misfit(x, smooth), misfit(x, np.median(x))
    found, best = None, np.inf
    for labels, edges in _split_models(x, lambda angle: np.cos(angle) * u + np.sin(angle) * v):
        parts = [labels == j for j in np.unique(labels)]
        levels = np.array([np.median(x[p]) for p in parts])
        cost = sum(misfit(x[p], v) for p, v in zip(parts, levels)) + PENALTY * h * w * edges
        if (cost < best and cost <= min(whole, limit + PENALTY * h * w * edges) and len(parts) == edges + 1
                and all(np.max(np.abs(levels - v)) >= CONTRAST for v in levels) and all(_papery(x, p) for p in parts)):
            found, best = labels, cost
    return found


def regions(x, smooth, most=64):
    """paper_regions of one image of any size: an image larger than `most` pixels a side
    is split at that size and its regions scaled back (nearest)."""
    from skimage.transform import resize
    if max(x.shape) <= most:
        return paper_regions(x, smooth)
    shape = tuple(max(1, round(n * most / max(x.shape))) for n in x.shape)
    small = paper_regions(resize(x, shape, anti_aliasing=True), resize(smooth, shape))
    return None if small is None else resize(small, x.shape, order=0, preserve_range=True, anti_aliasing=False).astype(int)


def region_ink(x, labels):
    """One image's ink (h, w), 0..1, on a paper of regions (paper_regions): in each region,
    the ink on the side of its paper (its median) where the region's strongest deviations
    lie, as a share of the way from the paper to black or white: a shadow darkens paper and
    ink alike, and a region of the other polarity reads as the rest."""
    level = np.zeros(x.shape)
    for k in np.unique(labels):
        inside = labels == k
        p, d = np.median(x[inside]), x[inside] - np.median(x[inside])
        dark = np.percentile(-d, 99) > np.percentile(d, 99)
        level[inside] = np.clip(-d / max(p, BLANK) if dark else d / max(255 - p, BLANK), 0, 1)
    return level


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


def ink_levels(images, floor=FLOOR, speck=SPECK, edges=None):
    """Grey images (n, h, w), any paper and pen -> ink (n, h, w) in 0..1 on black paper: the
    distance from the paper, stretched to the strongest ink, the floor taken out (not on
    clean paper, CLEAN), specks removed; a blank image (no ink above BLANK
    levels) all zero."""
    x = np.asarray(images, np.float64)
    under = paper(x)
    dev = np.abs(x - under)
    u, flat = under.reshape(len(x), -1), dev.reshape(len(x), -1)
    clean = (u.max(1) - u.min(1) <= CLEAN) & (np.percentile(flat, 75, axis=1) <= CLEAN)
    if EDGED if edges is None else edges:
        for i in np.flatnonzero(~clean):
            labels = regions(x[i], under[i])
            if labels is not None:
                dev[i] = 255 * region_ink(x[i], labels)
    top = np.percentile(dev.reshape(len(x), -1), 99.5, axis=1)[:, None, None]
    level = np.clip((np.clip(dev / np.maximum(top, 1e-9), 0, 1) - floor) / (1 - floor), 0, 1)
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
