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
from pixelbayes.preprocess import rotate_images, shift_images  # noqa: E402


def zoom(images, factor):
    """Scale each image about its centre by factor (28x28 kept; bilinear)."""
    from scipy import ndimage
    centre = (np.array(images.shape[1:]) - 1) / 2
    matrix = np.diag([1, 1 / factor, 1 / factor])
    offset = np.concatenate([[0], centre - centre / factor])
    out = ndimage.affine_transform(images.astype(np.float32), matrix, offset, order=1, mode="constant")
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


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


def grey_morphology(images, op, size):
    from scipy import ndimage
    fn = ndimage.grey_dilation if op == "dilate" else ndimage.grey_erosion
    return fn(images, size=(1, size, size))


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
    "scale0.8": lambda x, rng: zoom(x, 0.8),
    "scale1.2": lambda x, rng: zoom(x, 1.2),
    "thicker": lambda x, rng: grey_morphology(x, "dilate", 3),
    "thinner": lambda x, rng: grey_morphology(x, "erode", 2),
    "noise": lambda x, rng: noisy(x, rng),
    "blur": lambda x, rng: blurred(x),
    "bar": lambda x, rng: occluded(x, rng),
}


def train_cnn(data, epochs=3, seed=0):
    """A small CNN on the 28x28 training images: two 3x3 convolutions with pooling, a
    dense layer of 128, softmax; Adam, batch 128."""
    keras = util.get_keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 255), L.Conv2D(32, 3, activation="relu"),
                              L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                              L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data["x_train"][..., None], data["y_train"], batch_size=128, epochs=epochs, verbose=0)
    return lambda x: model.predict(x[..., None], batch_size=1000, verbose=0).argmax(1)


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
        classifiers["CNN"] = train_cnn(data)
        print(f"CNN trained in {time.time() - start:.0f} s", flush=True)
    print(f"{'change':<10}" + "".join(f"{name:>12}" for name in classifiers) + f"   ({len(y)} test images)", flush=True)
    for change in args.changes.split(","):
        changed = CHANGES[change](x, np.random.default_rng(0))
        accuracy = [np.mean(classify(changed) == y) for classify in classifiers.values()]
        print(f"{change:<10}" + "".join(f"{a:>12.4f}" for a in accuracy), flush=True)


if __name__ == "__main__":
    util.run_main(main)
