"""A user's own images, put in MNIST's form the way MNIST itself was made: grey, alpha
composited on the background, the ink (what differs from the paper, brighter or darker)
as light ink on black, cropped to the ink, scaled to fit a 20x20 box keeping the aspect
ratio (anti-aliased), and placed in 28x28 by the centre of mass (canonical.py).

Sources: image files (whatever Pillow reads), folders of them, glob patterns, .npz arrays
(x of shape (n, 28, 28) uint8, optionally y) and IDX files (images, and labels when an
IDX label file of the same count follows the image file)."""
import dataclasses
import functools
import glob
import os

import numpy as np

from .errors import UserError, one_line

MAX_SIDE = 1024          # larger images are reduced to this before anything else
SIZE = 28                # MNIST's images are 28x28
INK = 0.1                # share of the strongest ink below which a file's pixel is paper
ARRAY_ENDINGS = (".npz", "-ubyte", ".idx", "-ubyte.gz", ".idx.gz")


@dataclasses.dataclass
class Images:
    """What was read: MNIST-form images (n, 28, 28) uint8, a name for each, the labels
    (or None unless every source had them) and one line for each source that failed."""
    x: np.ndarray
    names: list
    y: object
    problems: list


def expand(paths):
    """The files behind the paths: a folder gives its files (sorted, not hidden), a pattern
    its matches; what matches nothing is kept, to be named as missing."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, f) for f in os.listdir(path)
                            if not f.startswith(".") and os.path.isfile(os.path.join(path, f)))
        elif not os.path.exists(path) and glob.has_magic(path):
            files += sorted(glob.glob(path))
        else:
            files.append(path)
    return files


def grey(img):
    """A Pillow image as float grey levels 0..255 (n, m): 16-bit and float modes scaled,
    palettes and CMYK through RGB, alpha composited on the side the ink is not on."""
    from PIL import Image
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img.convert("I"), np.float64) / 257.0
    if img.mode in ("I", "F"):
        a = np.asarray(img, np.float64)
        return a * (255.0 / a.max()) if a.max() > 255 else np.clip(a, 0, 255)
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")
    if "A" not in img.mode:
        return np.asarray(img.convert("L"), np.float64)
    la = np.asarray(img.convert("LA"), np.float64)
    value, alpha = la[..., 0], la[..., 1] / 255.0
    opaque = value[alpha > 0.5]
    paper = 255.0 if opaque.size == 0 or opaque.mean() < 128 else 0.0
    return value * alpha + paper * (1 - alpha)


def open_image(path):
    """An image file as grey levels, reduced to MAX_SIDE first (JPEGs decode reduced)."""
    from PIL import Image, ImageOps
    with Image.open(path) as img:
        img.draft("L", (MAX_SIDE, MAX_SIDE))
        img.seek(0)
        img = ImageOps.exif_transpose(img)
        if img.mode.startswith("I;16"):
            img = img.convert("I")
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        return grey(img)


def mnist_form(levels):
    """Grey levels (n, m), any size, paper and pen -> the 28x28 uint8 image MNIST would have
    made: the ink (canonical.ink_levels: what differs from the paper, brighter or darker)
    in MNIST's frame (canonical.frame)."""
    from .canonical import frame, ink_levels
    level = ink_levels(np.asarray(levels, np.float64)[None])[0]
    level[level < INK] = 0                              # a file's faint ringing (JPEG) is not ink
    return np.round(frame(level, always=True) * 255).astype(np.uint8)


def read_idx(path):
    """An IDX file (gzipped or not) as a uint8 array."""
    from .data import parse_idx
    with open(path, "rb") as f:
        return parse_idx(f.read())


def read_array(path, idx=read_idx):
    """(x, y or None) from an .npz (x, optionally y) or an IDX image file (read by idx)."""
    if path.endswith(".npz"):
        with np.load(path) as f:
            if "x" not in f.files:
                raise ValueError(f"no array x among {', '.join(f.files) or 'none'}")
            x, y = f["x"], f["y"] if "y" in f.files else None
    else:
        x, y = idx(path), None
    if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE) or x.dtype != np.uint8:
        raise ValueError(f"x has shape {x.shape} and type {x.dtype}, not (n, 28, 28) uint8")
    if y is not None and (y.shape != (len(x),) or not np.isin(y, range(10)).all()):
        raise ValueError(f"y has shape {y.shape} or labels outside 0..9")
    return x, y


def read_images(paths):
    """Every image behind the paths, in MNIST's form (Images). A source that cannot be read
    is one line in .problems; no image at all is a UserError."""
    x, names, labels, problems = [], [], [], []
    files = expand(paths)
    idx = functools.lru_cache(maxsize=None)(read_idx)        # a label file is read once, with its images
    for i, path in enumerate(files):
        try:
            if path.endswith(ARRAY_ENDINGS):
                if path.endswith(ARRAY_ENDINGS[1:]) and idx(path).ndim == 1:
                    continue                          # a label file: read with its images
                arr, y = read_array(path, idx)
                nxt = files[i + 1] if i + 1 < len(files) else None
                if y is None and nxt and nxt.endswith(ARRAY_ENDINGS[1:]) and idx(nxt).shape == (len(arr),):
                    y = idx(nxt)
                x.append(arr)
                names += [f"{path}[{k}]" for k in range(len(arr))]
                labels.append(y)
            else:
                x.append(mnist_form(open_image(path))[None])
                names.append(path)
                labels.append(None)
        except Exception as err:                       # unreadable, truncated, not an image
            problems.append(f"{path}: {'no such file' if not os.path.exists(path) else one_line(err)}; skipped")
    if not x:
        raise UserError("no image found in " + ", ".join(paths) + (f" ({problems[0]})" if problems else ""),
                        status=2)
    y = np.concatenate(labels) if all(lab is not None for lab in labels) else None
    return Images(np.concatenate(x).astype(np.uint8), names, y, problems)
