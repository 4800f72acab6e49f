"""A detail model per digit: the accuracy of shape-then-detail profiles on the held-out
training images that every model involved held out (the 5% of each digit of the usual
split), as classification.py reads them (the profile's shifts, cascade and readings), and
the mean detail term per digit, in bits per pixel of the 28x28 image.

    python experiments/detail.py [--profiles=pixelcnn28_shared,pixelcnn28] [--split=val]

--split=test reads the test set instead: only after a verdict (docs/journal.md, "A detail
model per digit"). The samples' check is benchmarks/recognised.py.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes.evaluation import splits  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="pixelcnn28_shared,pixelcnn28",
                   help="shape-then-detail profiles, comma-separated (default pixelcnn28_shared,pixelcnn28)")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="the held-out training images (val, default) or the test set (test)")
    args = p.parse_args()
    data = util.load_mnist()
    images, labels = splits(data)[args.split]
    for name in [n.strip() for n in args.profiles.split(",") if n.strip()]:
        s, start = util.settings_for(name), time.time()
        reader = util.Reader(s, data, False)
        loglik = reader.reading(images, False, reader.priors)[0]
        right, models = util.classify(loglik, reader.priors) == labels, reader.models
        levels = util.preprocess(images, s.target_size, s.max_intensity)
        own = np.array([models[d][0].detail_terms(levels[labels == d], s.classify_chunk, s.classify_workers, 0.0).mean()
                        for d in range(10)])
        print(f"{name}: {args.split} accuracy {right.mean():.4f} ({len(images) - right.sum()} errors of "
              f"{len(images)}; {time.time() - start:.0f} s); each digit's detail term on its own images, bits "
              "per pixel: " + " ".join(f"{-v / math.log(2) / s.seq_len:.4f}" for v in own), flush=True)


if __name__ == "__main__":
    util.run_main(main)
