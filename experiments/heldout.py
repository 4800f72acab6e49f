"""Which held-out images tell the test set's story: a nearest-neighbour yardstick of the
held-out share that train_mnist.py draws, image by image or in runs of consecutive images.

    python experiments/heldout.py [--blocks=1,10,50,200,1000] [--seeds=6] [--fraction=0.1667]

MNIST's test set was written by other people than its training set; a held-out share drawn
image by image from the training set was written by the same people as the images left
for training. The yardstick: each image classified by its nearest training image (1-NN,
Euclidean distance), a classifier that profits most from having seen the writer. For each
run length (--validation_block) and seed, the held-out share of each digit is drawn as
training draws it (util.digit_split), the rest is the 1-NN's memory, and the held-out
images and the 10,000 test images are classified against it, on the 28x28 images and on
the suite's 10x10 images with 7 levels. The gap (test error less held-out error, mean over
the seeds, with its standard error) says how much easier the held-out share is than the
test set for a classifier that remembers; 0 is a held-out share like the test set.

First, what the training file's order keeps: for each training image, its nearest image
of the same digit in the rest of the training set, and how far apart the two lie in the
file, against two images of that digit drawn at random. About 8 minutes on 2 cores.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import cli  # noqa: E402


def nearest(queries, memory, chunk=1000, leave_out_self=False):
    """Index in memory of each query's nearest row (squared Euclidean distance); with
    leave_out_self, queries are memory itself and a row is not its own neighbour."""
    norms = np.einsum("ij,ij->i", memory, memory)
    out = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), chunk):
        d = norms[None] - 2 * queries[start:start + chunk] @ memory.T
        if leave_out_self:
            rows = np.arange(len(d))
            d[rows, start + rows] = np.inf
        out[start:start + chunk] = d.argmin(1)
    return out


def file_order(x, y, gaps=(2, 10, 50, 250, 1000, 5000), seed=0):
    """Print the share of nearest neighbours (same digit) lying fewer than g positions apart
    in the training file, against random pairs of the digit's images."""
    rng, near, chance, parity = np.random.default_rng(seed), [], [], []
    for digit in range(10):
        where = np.flatnonzero(y == digit)
        apart = np.abs(where - where[nearest(x[where], x[where], leave_out_self=True)])
        near.append(apart)
        parity.append(apart % 2 == 0)
        chance.append(np.abs(rng.choice(where, len(where)) - rng.choice(where, len(where))))
    near, chance = np.concatenate(near), np.concatenate(chance)
    print("nearest image of the same digit (28x28), fewer than g positions away in the training file: "
          + ", ".join(f"g={g}: {np.mean(near < g):.4f} (random pairs {np.mean(chance < g):.4f})" for g in gaps))
    print(f"  the two lie an even number of positions apart: {np.mean(np.concatenate(parity)):.3f} (random pairs 0.5)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", default="1,10,50,200,1000",
                   help="run lengths to compare, images of one digit (--validation_block; default 1,10,50,200,1000)")
    p.add_argument("--seeds", type=cli.positive_int, default=6, help="splits drawn per run length, seeds 0.. (default 6)")
    p.add_argument("--fraction", type=cli.fraction, default=0.1667,
                   help="held-out share of each digit (default 0.1667, the selection runs')")
    args = p.parse_args()
    try:
        blocks = [cli.positive_int(b) for b in args.blocks.split(",")]
    except argparse.ArgumentTypeError:
        raise util.UserError(f"--blocks takes whole numbers >= 1 separated by commas, got {args.blocks!r}")
    if not args.fraction:
        raise util.UserError("--fraction must be above 0: a held-out share is what is measured")
    start, data = time.time(), util.load_mnist()
    y, y_test = data["y_train"], data["y_test"]
    inputs = {"28x28": (data["x_train"].reshape(len(y), -1) / 255, data["x_test"].reshape(len(y_test), -1) / 255),
              "10x10, 7 levels": (util.preprocess(data["x_train"], 10, 7).reshape(len(y), -1) / 7,
                                  util.preprocess(data["x_test"], 10, 7).reshape(len(y_test), -1) / 7)}
    inputs = {k: (a.astype(np.float32), b.astype(np.float32)) for k, (a, b) in inputs.items()}
    file_order(inputs["28x28"][0], y)
    print(f"1-NN error, held-out share {args.fraction:g} of each digit, {args.seeds} seeds per run length")
    for name, (x, x_test) in inputs.items():
        for block in blocks:
            held_err, test_err = [], []
            for seed in range(args.seeds):
                memory, held = util.digit_split(y, args.fraction, seed, block)    # as train_mnist.py draws it
                memory = np.sort(memory)                   # in file order: a tie goes to the earlier image
                held_err.append(np.mean(y[memory][nearest(x[held], x[memory])] != y[held]))
                test_err.append(np.mean(y[memory][nearest(x_test, x[memory])] != y_test))
            gap = np.subtract(test_err, held_err)
            se = np.std(gap, ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else float("nan")
            print(f"{name}, runs of {block:>4}: held-out {np.mean(held_err):.4f}, test {np.mean(test_err):.4f}, "
                  f"gap {np.mean(gap):+.4f} +- {se:.4f} ({len(held)} held-out images)", flush=True)
    print(f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    util.run_main(main)
