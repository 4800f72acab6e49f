"""Robustness, side by side: the test images changed at 28x28 (shifts, rotations, scales,
thicker and thinner strokes, noise, blur, an occluding bar), classified by the generative
profiles and by a small CNN trained on the same MNIST training images for a few minutes
(the ordinary discriminative classifier). Prints the README's table, one row per change.

    python benchmarks/robustness.py [--profiles=tutorial,best] [--num_images=10000]
    python benchmarks/robustness.py --profiles=rotate --changes=rotate10,rotate20

Each change draws its random parts (direction of a shift, sign of a rotation, place of
the bar) from a fixed seed, so every classifier sees the same images.
"""
import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes.evaluation import train_cnn  # noqa: E402
from pixelbayes.preprocess import restroke, rotate_images, scale_images, shift_images  # noqa: E402


def shifted(images, pixels, rng):
    """Each image moved by `pixels` rows and/or columns, the directions drawn at random."""
    moves = [(dy, dx) for dy in (-pixels, 0, pixels) for dx in (-pixels, 0, pixels) if (dy, dx) != (0, 0)]
    pick = rng.integers(len(moves), size=len(images))
    out = np.empty_like(images)
    for k, (dy, dx) in enumerate(moves):
        out[pick == k] = shift_images(images[pick == k], dy, dx)
    return out


def rotated(images, degrees, rng):
    sign = rng.choice([-1, 1], size=len(images))
    out = np.empty_like(images)
    for s in (-1, 1):
        out[sign == s] = rotate_images(images[sign == s], s * degrees)
    return out


def noisy(images, rng, sigma=64):
    return np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)


def blurred(images, sigma=1.0):
    from scipy import ndimage
    return np.clip(np.round(ndimage.gaussian_filter(images.astype(np.float32), (0, sigma, sigma))), 0, 255
                   ).astype(np.uint8)


def occluded(images, rng, width=4):
    """A black bar `width` pixels wide across each image, horizontal or vertical, through
    the middle half."""
    out = images.copy()
    start = rng.integers(7, 21 - width, size=len(images))
    across = rng.random(len(images)) < 0.5
    for i, (s, a) in enumerate(zip(start, across)):
        if a:
            out[i, s:s + width] = 0
        else:
            out[i, :, s:s + width] = 0
    return out


CHANGES = {
    "none": lambda x, rng: x,
    "shift2": lambda x, rng: shifted(x, 2, rng),
    "shift3": lambda x, rng: shifted(x, 3, rng),
    "rotate10": lambda x, rng: rotated(x, 10, rng),
    "rotate20": lambda x, rng: rotated(x, 20, rng),
    "scale0.8": lambda x, rng: scale_images(x, 0.8),
    "scale1.2": lambda x, rng: scale_images(x, 1.2),
    "thicker": lambda x, rng: restroke(x, 1, size=3),
    "thinner": lambda x, rng: restroke(x, -1),
    "noise": lambda x, rng: noisy(x, rng),
    "blur": lambda x, rng: blurred(x),
    "bar": lambda x, rng: occluded(x, rng),
}


def generative(profile, data):
    """A profile's Bayes classifier: images -> predicted digits (the exact mixture, not the
    cascade, whose first pass reads the image as it is: the changes here move it most)."""
    s = dataclasses.replace(util.settings_for(profile), cascade_margin=0.0)
    models, latents = util.load_models(s), s.test_latents()
    priors = util.log_priors(data["y_train"])
    return lambda x: util.classify(util.mixture_log_likelihoods(models, x, latents, s), priors)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="tutorial,best", help="generative profiles, comma-separated (default tutorial,best)")
    p.add_argument("--changes", default=",".join(CHANGES), help="changes to apply, comma-separated (default: all)")
    p.add_argument("--num_images", type=util.positive_int, default=10000, help="test images, from the first (default 10000)")
    util.add_bool_flag(p, "--cnn", True, "also train and test the CNN")
    args = p.parse_args()
    data = util.load_mnist()
    x, y = data["x_test"][:args.num_images], data["y_test"][:args.num_images]
    names = args.profiles.split(",") if args.profiles else []
    classifiers = {name: generative(name, data) for name in names}
    if args.cnn:
        start = time.time()
        cnn = train_cnn(data["x_train"], data["y_train"])
        classifiers["CNN"] = lambda images: cnn(images).argmax(1)
        print(f"CNN trained in {time.time() - start:.0f} s", flush=True)
    print(f"{'change':<10}" + "".join(f"{name:>12}" for name in classifiers) + f"   ({len(y)} test images)", flush=True)
    for change in args.changes.split(","):
        changed = CHANGES[change](x, np.random.default_rng(0))
        accuracy = [np.mean(classify(changed) == y) for classify in classifiers.values()]
        print(f"{change:<10}" + "".join(f"{a:>12.4f}" for a in accuracy), flush=True)


if __name__ == "__main__":
    util.run_main(main)
