"""What longer training gains, on held-out training images and on the test set: for each
pair of sets of one recipe and reading order, trained 40 and 80 epochs, the gain of the
true digit's log-likelihood per image (the 9-shift mixture, nats), on the images both sets
held out and on the 10,000 test images.

    python experiments/longer.py [--pairs=shift_long:shift_xlong,shift_long_columns:shift_xlong_columns] [--cache=DIR]

The held-out images are the usual split's 3,000 (each digit's 5%, seed 0): the 80-epoch
sets held out 1/6 with the same seed, whose draw begins with the same images, so neither
set trained on them. Held-out images were written by the training images' writers, test
images by others (see experiments/heldout.py): a gain that is larger on the held-out images
than on the test set is a gain on the training writers. Also printed: the same for the
margin (the true digit's log-likelihood less the best other digit's) and the errors. Each
set's terms come from the cache of experiments/routes.py (about 4 minutes per set and split on 2 cores).
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import evaluation  # noqa: E402

SQUARE9 = evaluation.shapes()["square9"]


def per_image(profile, name, images, labels, cache):
    """(log p(x | true digit), margin over the best other digit, wrong) per image, 9-shift mixture."""
    loglik = util.log_mean_exp(evaluation.log_likelihoods(profile, name, images, SQUARE9, cache), axis=0)
    return (*evaluation.true_and_lead(loglik, labels), loglik.argmax(1) != labels)


def mean_se(values):
    return float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", default="shift_long:shift_xlong,shift_long_columns:shift_xlong_columns",
                   help="SHORT:LONG profile pairs, comma-separated (default: rows and columns, 40 and 80 epochs)")
    p.add_argument("--cache", help="the cache folder of experiments/routes.py (default: temporary)")
    args = p.parse_args()
    pairs = [pair.split(":") for pair in args.pairs.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise util.UserError(f"--pairs takes SHORT:LONG profile pairs separated by commas, got {args.pairs!r}")
    for short, long in pairs:
        held = [util.recorded_split(util.read_meta(util.model_path(util.settings_for(n).models_dir, 0))) for n in (short, long)]
        if len({h[1:] for h in held}) > 1 or min(h[0] for h in held) < 0.05:
            raise util.UserError(f"{short} and {long} did not both hold out the usual split's images "
                                 "(a share of at least 0.05 drawn with one seed and run length)")
    cache = args.cache or tempfile.mkdtemp(prefix="routes_")
    data = util.load_mnist()
    for short, long in pairs:
        print(f"--- {short} -> {long}: per image, the longer set's figure less the shorter's")
        gains = {}
        for name, (images, labels) in evaluation.splits(data).items():
            (t0, m0, e0), (t1, m1, e1) = (per_image(n, name, images, labels, cache) for n in (short, long))
            gains[name] = (t1 - t0, m1 - m0)
            (g, gs), (m, ms) = mean_se(t1 - t0), mean_se(m1 - m0)
            print(f"{name}: {len(labels)} images, log p(x | true digit) {g:+.3f} +- {gs:.3f} nats, margin {m:+.3f} "
                  f"+- {ms:.3f}; errors {int(e0.sum())} -> {int(e1.sum())}", flush=True)
        for k, what in enumerate(("log p(x | true digit)", "margin")):
            (h, hs), (t, ts) = mean_se(gains["val"][k]), mean_se(gains["test"][k])
            print(f"held-out gain less test gain, {what}: {h - t:+.3f} +- {np.hypot(hs, ts):.3f} nats")


if __name__ == "__main__":
    util.run_main(main)
