"""Robustness, side by side: MNIST's test images under MNIST-C's 15 corruptions (Mu and
Gilmer 2019; pixelbayes/corruptions.py), classified by the generative profiles as a user
gets them and by a small CNN trained in the same run on clean MNIST (two 3x3 convolutions
of 32 and 64 with pooling, dense 128, 3 epochs of Adam: pixelbayes.evaluation.small_cnn).
Prints one Markdown row per corruption and the mean of the 15.

    python benchmarks/robustness.py [--profiles=tutorial,best] [--num_images=2000]
    python benchmarks/robustness.py --corruptions=grey_paper,specks --cnn=False

Each corruption draws its random parts from --seed, so every classifier sees the same
images; no model ever trains on a corruption. --corruptions also takes our own changes
(pixelbayes/changes.py), under which the robust settings were chosen on held-out images.
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
from pixelbayes import changes, corruptions  # noqa: E402
from pixelbayes.evaluation import train_cnn  # noqa: E402


def corrupted(images, name, seed):
    """The images under an MNIST-C corruption or one of our own changes ("identity": as they are)."""
    if name in changes.CHANGES:
        return changes.change(images, name, seed)
    return corruptions.corrupt(images, name, seed)


def generative(profile, data, exact):
    """A profile's Bayes classifier as classification.py runs it (util.Reader: its robust
    settings, and its fallback where it has one): images -> predicted digits."""
    s = util.settings_for(profile)
    reader = util.Reader(dataclasses.replace(s, cascade_margin=0.0) if exact else s, data)
    return lambda x: util.classify(reader.log_likelihoods(x, priors=reader.priors), reader.priors)


def names_arg(text):
    """argparse type: corruption or change names, comma-separated."""
    names = [n for n in text.split(",") if n]
    known = ["identity", *corruptions.CORRUPTIONS, *changes.CHANGES]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(bad) or 'empty list'}; known: {', '.join(known)}")
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="tutorial,best", help="generative profiles, comma-separated (default tutorial,best)")
    p.add_argument("--corruptions", type=names_arg, default=["identity", *corruptions.CORRUPTIONS],
                   help="corruptions (MNIST-C's, or our own changes), comma-separated (default: none and MNIST-C's 15)")
    p.add_argument("--num_images", type=util.positive_int, default=2000, help="test images, from the first (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruptions' random parts (default 0)")
    util.add_bool_flag(p, "--cnn", True, "also train and test the small CNN")
    util.add_bool_flag(p, "--exact", False, "the exact mixture for every digit instead of the profiles' cascade")
    args = p.parse_args()
    data = util.load_mnist()
    x, y = data["x_test"][:args.num_images], data["y_test"][:args.num_images]
    names = [n for n in args.profiles.split(",") if n]
    classifiers = {name: generative(name, data, args.exact) for name in names}
    if args.cnn:
        start = time.time()
        cnn = train_cnn(data["x_train"], data["y_train"])
        classifiers["CNN"] = lambda images: cnn(images).argmax(1)
        print(f"CNN trained in {time.time() - start:.0f} s on the 60,000 clean training images", file=sys.stderr)
    print(f"accuracy on the first {len(y)} test images, each corruption drawn with seed {args.seed}\n")
    print("| corruption | " + " | ".join(classifiers) + " |\n|---|" + "---|" * len(classifiers), flush=True)
    table = []
    for name in args.corruptions:
        images = corrupted(x, name, args.seed)
        table.append([np.mean(classify(images) == y) for classify in classifiers.values()])
        print(f"| {'none' if name == 'identity' else name.replace('_', ' ')} | "
              + " | ".join(f"{a:.3f}" for a in table[-1]) + " |", flush=True)
    rest = [row for name, row in zip(args.corruptions, table) if name != "identity"]
    if len(rest) > 1:
        print(f"| mean of {len(rest)} | " + " | ".join(f"**{a:.3f}**" for a in np.mean(rest, 0)) + " |")


if __name__ == "__main__":
    util.run_main(main)
