"""How much each input keeps: a discriminative CNN trained on each form of the image the
generative models could read (the 28x28 grey image; N x N with 7 levels), as a yardstick
for what a classifier can reach from that form. Not a classifier of the suite.

    python experiments/inputs.py [--inputs=28:256,14:7,10:7,8:7] [--shifts=1] [--epochs=6]

Trained on the training images less each digit's held-out 5% (seed 0, as in training),
scored on those held-out images and on the 10,000 test images. With --shifts=1 the CNN
sees, like the `shift` profile, each training image under one of the nine 1-pixel shifts
(drawn anew each epoch) and averages its predicted probabilities over the nine shifts of
a test image; --shifts=0: the images as they are. About 4 minutes per input form for
6 epochs on this project's 2-core CPU (more with the shifts).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import evaluation  # noqa: E402
from pixelbayes.preprocess import preprocess_transformed  # noqa: E402


def views(images, size, levels, transforms):
    """(transforms, n, size, size, 1) float32 in [0, 1]: the images as the models would read them."""
    if size == 28 and levels == 256:
        x = np.stack([t.apply(images) for t in transforms])
    else:
        x = preprocess_transformed(images, transforms, size, levels - 1)
    return (x.astype(np.float32) / (levels - 1))[..., None]


def measure(data, size, levels, shifts, epochs, seed=0):
    """Held-out and test accuracy of the CNN on one input form."""
    (x, y), (xv, yv) = evaluation.training_split(data)
    transforms = util.latents(shifts)
    train = views(x, size, levels, transforms)
    model, rng = evaluation.small_cnn(size, double=True, seed=seed), np.random.default_rng(seed)
    for _ in range(epochs):                     # each image under a shift drawn anew each epoch
        pick = rng.integers(0, len(transforms), len(y))
        model.fit(train[pick, np.arange(len(y))], y, batch_size=128, epochs=1, verbose=0)
    acc = []
    for images, labels in ((xv, yv), (data["x_test"], data["y_test"])):
        probs = np.mean([model.predict(v, batch_size=1000, verbose=0) for v in views(images, size, levels,
                                                                                          transforms)], axis=0)
        acc.append(np.mean(probs.argmax(1) == labels))
    return acc


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", default="28:256,14:7,10:7,8:7",
                   help="input forms, comma-separated SIZE:LEVELS (28:256 is the image itself; default "
                        "28:256,14:7,10:7,8:7)")
    p.add_argument("--shifts", type=int, choices=[0, 1], default=1,
                   help="1: train on shifted images and average over the 9 shifts at test time, as the `shift` "
                        "profile does; 0: the images as they are (default 1)")
    p.add_argument("--epochs", type=util.positive_int, default=6, help="training epochs (default 6)")
    args = p.parse_args()
    try:
        forms = [tuple(int(v) for v in f.split(":")) for f in args.inputs.split(",")]
        if any(len(f) != 2 or not 2 <= f[0] <= 28 or not 2 <= f[1] <= 256 for f in forms):
            raise ValueError
    except ValueError:
        p.error(f"--inputs wants SIZE:LEVELS pairs (2..28, 2..256), got {args.inputs!r}")
    data = util.load_mnist()
    print(f"CNN, {args.epochs} epochs, shifts {args.shifts}; accuracy on 3,000 held-out training images | "
          f"10,000 test images")
    for size, levels in forms:
        start = time.time()
        held, test = measure(data, size, levels, args.shifts, args.epochs)
        print(f"{size}x{size}, {levels} levels: {held:.4f} | {test:.4f} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    util.run_main(main)
