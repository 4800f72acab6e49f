"""The README's table of routes to 0.99: accuracy of each set of shipped models, alone and
mixed, over 1, 5 (a cross) or 9 (the 3x3 square) shifts of each image, on all 10,000
test images and on the held-out training images (each digit's 5% that training held
out with seed 0, which no model trained on).

    python benchmarks/routes.py [--cache=DIR]

Each set's log-likelihoods per shift are computed once (about 4 minutes per set for the
test images on 2 cores) and kept in DIR (default: a temporary folder), so a rerun with
the same DIR only recombines them.
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402

SETS = ("tutorial", "shift", "fast", "pixelcnn")
MIXES = [("tutorial",), ("shift",), ("fast",), ("tutorial", "shift"), ("fast", "shift"),
         ("tutorial", "fast", "shift"), ("pixelcnn",), ("shift", "pixelcnn"), ("tutorial", "shift", "pixelcnn")]
GRID = util.shift_grid(1)
SHIFTS = {"none": [GRID.index((0, 0))],
          "cross5": [i for i, (dy, dx) in enumerate(GRID) if abs(dy) + abs(dx) <= 1],
          "square9": list(range(len(GRID)))}


def splits(data):
    """{name: (images, labels)}: the test set, and the held-out share of each digit."""
    held = [util.split_validation(int(np.sum(data["y_train"] == d)), 0.05, 0)[1] for d in range(10)]
    x = np.concatenate([data["x_train"][data["y_train"] == d][h] for d, h in enumerate(held)])
    y = np.concatenate([np.full(len(h), d) for d, h in enumerate(held)])
    return {"test": (data["x_test"], data["y_test"]), "val": (x, y)}


def per_shift_log_likelihoods(profile, name, images, cache):
    """(shifts, n, 10) log p(shift_s(x) | k) under a profile's models, cached in cache."""
    path = os.path.join(cache, f"{profile}_{name}.npy")
    if not os.path.exists(path):
        s = util.settings_for(profile)
        models = util.load_models(s)
        copies = util.classifier_inputs(images, models, 1)
        ll = np.stack([np.stack([m[0].log_likelihoods(c, s.classify_chunk, s.classify_workers) for m in models], 1)
                       for c in copies])
        np.save(path, ll)
    return np.load(path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=None, help="folder for the per-shift log-likelihoods (default: temporary)")
    args = p.parse_args()
    cache = args.cache or tempfile.mkdtemp(prefix="routes_")
    util.make_folder(cache)
    data = util.load_mnist()
    priors = util.log_priors(data["y_train"])
    for name, (images, labels) in splits(data).items():
        ll = {profile: per_shift_log_likelihoods(profile, name, images, cache) for profile in SETS}
        print(f"--- {name}: {len(labels)} images")
        for members in MIXES:
            row = []
            for shape, shifts in SHIFTS.items():
                terms = np.concatenate([ll[m][shifts] for m in members])
                mixed = util.log_mean_exp(terms, axis=0)
                row.append(f"{shape} {np.mean(util.classify(mixed, priors) == labels):.4f}")
                if shape == "square9" and name == "test":
                    own = -mixed[np.arange(len(labels)), labels] / 100 / np.log(2)
                    row.append(f"own-model NLL, digit mean {np.mean([own[labels == d].mean() for d in range(10)]):.4f}")
            print("+".join(members), " | ".join(row))


if __name__ == "__main__":
    main()
