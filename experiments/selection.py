"""A selection run's figures: a set of models trained with a larger held-out share, scored
on the images its training held out and on the 10,000 test images, as the exact mixture
over the 9 shifts and as the image as it is. The held-out images are each digit's share
that the files record (validation_fraction, seed and validation_block), so any split works:

    python train_mnist.py --all_digits=True --profile=shift_long --validation_fraction=0.1667 --models_dir=DIR
    python experiments/selection.py --profile=shift_long --models_dir=DIR
    python experiments/selection.py --profile=shift_long --models_dir=DIR --mix=pixelcnn_elastic=DIR2

`--mix` adds sets trained on the same split and scores the equal mixture of all of them
(18 terms per digit for two sets over the 9 shifts) beside each set alone.
`--rotations=-10,10` adds the rotate profile's second latent: each shift also rotated by
those angles (27 terms per set). Each row also gives the NLL of the true digit's mixture
and the median lead of its log-likelihood over the next digit's.
`--cache=DIR` keeps each set's terms (a file per set of model files, split and transform), so
a set is scored once however many mixtures it joins.
With 1/6 held out (10,002 images) one image is 0.01%; the README's selection rule asked for
15 images (Training longer; a retrain with another seed moved the test figure by 6). The
suite's engine does the scoring ("auto": the keras graph where an NVIDIA GPU is, else the
numpy nets: on 2 cores, for the two splits, about 5 minutes per GRU set and 13 per PixelCNN set).
"""
import argparse
import dataclasses
import hashlib
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import evaluation  # noqa: E402
from pixelbayes import cli  # noqa: E402


def load_set(profile, models_dir):
    """(settings, models, held-out split: (share, seed, runs)) of one set of models, its split read from its files."""
    s = util.settings_for(profile)
    s = dataclasses.replace(s, models_dir=models_dir or s.models_dir, cascade_margin=0.0)
    models = util.load_models(s)                                 # a missing file: one line, exit 1
    meta = util.read_meta(util.model_path(s.models_dir, 0))
    split = util.recorded_split(meta)
    print(f"{s.models_dir}: {meta['settings']['family']} models, {meta['settings']['epochs']} epochs, "
          f"held-out share {split[0]} (seed {split[1]}, runs of {split[2]})")
    return s, models, split


def set_terms(s, models, split, images, shifts, cache=None):
    """(shifts, n, 10) log p(shift(x) | k) under one set; with a cache folder, each shift's
    array is kept there, named by the digest of the set's model files, the split and the transform."""
    if not cache:
        return np.stack([util.mixture_log_likelihoods(models, images, [t], s) for t in shifts])
    digest = hashlib.sha256()
    for d in range(10):
        for m in range(s.ensemble):
            with open(util.model_path(s.models_dir, d, m), "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
    out = []
    for t in shifts:
        turn = f"_r{t.degrees:+g}" if t.degrees else ""            # unrotated terms keep their names
        path = os.path.join(cache, f"{digest.hexdigest()[:16]}_{split}_{len(images)}_{t.dy}_{t.dx}{turn}.npy")
        if not os.path.exists(path):
            os.makedirs(cache, exist_ok=True)
            np.save(path, util.mixture_log_likelihoods(models, images, [t], s))
        out.append(np.load(path))
    return np.stack(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="shift_long", help="the profile the models were trained with (default shift_long)")
    p.add_argument("--models_dir", help="folder of the models (default: the profile's)")
    p.add_argument("--mix", action="append", default=[], metavar="PROFILE=DIR",
                   help="another set trained on the same split, mixed with the first in equal shares (repeatable): "
                        "each set alone, then the mixture, and how many of the first set's errors it corrects")
    p.add_argument("--rotations", type=cli.angles, default=(),
                   help="rotations (degrees besides 0, e.g. -10,10) in each set's mixture, each with every shift "
                        "(the rotate profile's second latent; default none: the 9 shifts)")
    p.add_argument("--cache", help="folder that keeps each set's log-likelihoods (default: none, all computed)")
    args = p.parse_args()
    if any("=" not in m for m in args.mix):
        raise util.UserError("--mix takes PROFILE=DIR, for example --mix=pixelcnn_elastic=runs/elastic")
    sets = [load_set(args.profile, args.models_dir)] + [load_set(*m.split("=", 1)) for m in args.mix]
    if len({split for _, _, split in sets}) > 1:
        raise util.UserError("the sets were trained on different held-out splits; train them with the same "
                             "--validation_fraction, --validation_block and --seed")
    if len({(n.target_size, n.levels, n.settings.deskew) for _, models, _ in sets for n in sum(models, [])}) > 1:
        raise util.UserError("the sets do not share one input shape (image size, levels, deskewing); "
                             "a mixture needs one")
    lead, models, split = sets[0]
    if not split[0]:
        raise util.UserError(f"{lead.models_dir}: these models held out no training images (validation_fraction 0), "
                             "so a selection run has nothing to score them on")
    data = util.load_mnist()
    pixels = models[0][0].target_size ** 2
    priors = util.log_priors(data["y_train"])
    for name, (images, labels) in (("held-out", evaluation.training_split(data, *split)[1]),
                                    ("test", (data["x_test"], data["y_test"]))):
        shifts = util.latents(1, args.rotations)        # the image as it is is one of them
        per_set = [(s.models_dir, set_terms(s, models, name, images, shifts, args.cache)) for s, models, _ in sets]
        row = []
        for shape, pick in ((f"{len(shifts)} terms", lambda t: util.log_mean_exp(t, axis=0)),
                            ("as is", lambda t: t[util.identity_index(shifts)])):
            scored = [(label, pick(t)) for label, t in per_set]
            if len(scored) > 1:
                scored.append(("the mixture", util.log_mean_exp(np.stack([ll for _, ll in scored]), axis=0)))
            first = util.classify(scored[0][1], priors) != labels
            for label, ll in scored:
                wrong = util.classify(ll, priors) != labels
                against = (f"; corrects {int(np.sum(first & ~wrong))}, makes {int(np.sum(wrong & ~first))} new"
                           if label == "the mixture" else "")
                true, lead = evaluation.true_and_lead(ll, labels)
                row.append(f"{shape}, {label}: {1 - wrong.mean():.4f} ({int(wrong.sum())} errors{against}), "
                           f"NLL of the true digit {util.bits_per_pixel(-true.mean() / pixels):.4f} bits/pixel, "
                           f"its lead over the next digit: median {np.median(lead):.1f} nats")
        print(f"{name}, {len(labels)} images:\n  " + "\n  ".join(row), flush=True)


if __name__ == "__main__":
    util.run_main(main)
