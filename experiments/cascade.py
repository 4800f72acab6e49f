"""The cascade against the exact mixture: for each margin, on the held-out training images
(where the margin was chosen: the smallest of MARGINS that changes no held-out answer;
the share that the first set's files record as held out, e.g. 1/6 for shift_xlong_orders)
and on the 10,000 test images, how many answers differ from the exact mixture's, the
accuracy, and the digits in contention per image (the work of the second pass).
For a mixture of profiles, also each pair of margins of the cascade that runs the first
profile alone (cascade_margin) and the others for the digits in contention after it
(cascade_sets_margin): chosen as the pair of least work that changes no held-out answer;
and for each order of the profiles, its own such pair (the order runs first the profile
that the mix names first: shift_xlong_orders' columns set, the order of least work).

    python experiments/cascade.py [--profile=shift] [--cache=DIR]
    python experiments/cascade.py --profile=shift_long_orders --cache=DIR

It reads each transform's log-likelihoods from the cache of experiments/routes.py (computed
there once when missing, about 4 minutes per set and split on 2 cores)."""
import argparse
import itertools
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import evaluation  # noqa: E402

MARGINS = (2, 5, 10, 15, 20, 30)        # nats; declared with the rule before any figure was read


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="shift", help="a profile with a mixture over latents (default shift)")
    p.add_argument("--cache", default=None, help="the cache folder of experiments/routes.py (default: temporary)")
    args = p.parse_args()
    s = util.settings_for(args.profile)
    cache = args.cache or tempfile.mkdtemp(prefix="routes_")
    data, transforms = util.load_mnist(), s.test_latents()
    priors, i = util.log_priors(data["y_train"]), util.identity_index(transforms)
    meta = util.read_meta(util.model_path(util.settings_for((s.mix or (s.profile,))[0]).models_dir, 0))
    held = util.recorded_split(meta)                                   # the split the models' files record
    if not held[0]:
        raise util.UserError(f"{args.profile}'s models held out no training images (validation_fraction 0); "
                             "the cascade's margins are chosen on held-out images")
    for name, (images, labels) in evaluation.splits(data, *held).items():
        terms = np.concatenate([evaluation.log_likelihoods(m, name, images, transforms, cache) for m in s.mix or (s.profile,)])
        full = util.log_mean_exp(terms, axis=0) + priors
        first = util.log_mean_exp(terms[i::len(transforms)], axis=0) + priors      # the image as it is
        exact = full.argmax(1)
        print(f"--- {name}: {len(labels)} images, exact mixture accuracy {np.mean(exact == labels):.4f}")
        for margin in MARGINS:
            contend = util.in_contention(first, margin)
            answer = np.where(contend, full, -np.inf).argmax(1)
            print(f"margin {margin:>2} nats: {int(np.sum(answer != exact)):>3} answers differ, accuracy "
                  f"{np.mean(answer == labels):.4f}, digits in contention per image {contend.sum(1).mean():.2f}")
        if len(s.mix) > 1:
            sets_pairs(terms, priors, len(transforms), i, exact, labels)
            sets_orders(s.mix, terms, priors, len(transforms), i, exact)


def sets_cascade(terms, priors, count, i, m1, m2):
    """The cascade over the first profile alone, then the others, with margins m1 and m2:
    (scores plus log p(k), (n, 10): the exact mixture for the digits in contention after both
    steps, else the lower bound of the terms computed; digits in contention after the first
    step and after the second, per image; work: nets run over one copy of one image, per image)."""
    sets = len(terms) // count
    lead = terms[:count]                                       # the first profile's terms
    full = util.log_mean_exp(terms, axis=0) + priors
    first, head = lead[i] + priors, util.log_mean_exp(lead, axis=0) + priors
    c1 = util.in_contention(first, m1)
    c2 = c1 & util.in_contention(np.where(c1, head, -np.inf), m2)
    scores = np.where(c2, full, np.where(c1, head - np.log(sets), first - np.log(count * sets)))
    n1, n2 = c1.sum(1).mean(), c2.sum(1).mean()
    return scores, n1, n2, 10 + (count - 1) * n1 + (sets - 1) * count * n2


def sets_pairs(terms, priors, count, i, exact, labels):
    """For each pair of margins: answers changed, accuracy and work."""
    for m1 in MARGINS:
        for m2 in MARGINS:
            scores, c1, c2, work = sets_cascade(terms, priors, count, i, m1, m2)
            answer = scores.argmax(1)
            print(f"margins {m1:>2}, {m2:>2} nats: {int(np.sum(answer != exact)):>3} answers differ, accuracy "
                  f"{np.mean(answer == labels):.4f}, digits in contention {c1:.2f} then "
                  f"{c2:.2f} per image, work {work:.1f} (exact: {10 * len(terms)})")


def sets_orders(mix, terms, priors, count, i, exact):
    """For each order of the profiles (which one runs first, which next): the pair of margins
    of least work that changes no answer of the exact mixture on these images."""
    blocks = {name: terms[k * count:(k + 1) * count] for k, name in enumerate(mix)}
    for order in itertools.permutations(mix):
        t = np.concatenate([blocks[name] for name in order])
        runs = [(sets_cascade(t, priors, count, i, m1, m2), m1, m2) for m1 in MARGINS for m2 in MARGINS]
        exact_pairs = [(work, m1, m2) for (scores, _, _, work), m1, m2 in runs if np.all(scores.argmax(1) == exact)]
        pick = min(exact_pairs) if exact_pairs else None
        print(f"order {', '.join(order)}: " + (f"margins {pick[1]}, {pick[2]} nats change no answer, work "
                                                  f"{pick[0]:.1f}" if pick else "every pair changes an answer"))


if __name__ == "__main__":
    util.run_main(main)
