"""The README's table of routes to 0.99: accuracy of each set of shipped models, alone and
mixed, over 1, 5 (a cross) or 9 (the 3x3 square) shifts of each image, and the `shift`
models over the 9 shifts each with small rotations (the second latent), on all 10,000
test images and on the held-out training images (each digit's 5% that training held
out with seed 0, which no model trained on).

    python experiments/routes.py [--cache=DIR] [--rows=all|shifts|rotations|errors|pixelcnn28|wide|pixelcnn14|
                                 trained_rotations|trained_elastic|radius2|deskew|scales|long|long_mix|
                                 columns|long_columns|xlong]

Each set's log-likelihoods per transform are computed once (about 4 minutes per set for the
test images on 2 cores, for the nine shifts; the 28x28 PixelCNN's take about 4 minutes
per shift) and kept in DIR (default: a temporary folder), so a rerun with
the same DIR only recombines them.
"""
import argparse
import collections
import os
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes.evaluation import log_likelihoods, shapes, splits  # noqa: E402

SETS = ("tutorial", "shift", "fast", "pixelcnn")
MIXES = [("tutorial",), ("shift",), ("fast",), ("tutorial", "shift"), ("fast", "shift"),
         ("tutorial", "fast", "shift"), ("pixelcnn",), ("shift", "pixelcnn"), ("tutorial", "shift", "pixelcnn")]
SHAPES = shapes()
# the second latent, declared before any of its figures was read: the `shift` models over
# the 9 shifts, each also rotated by a small angle either way
ROTATED = {"square9 x rotations -5,0,5": util.latents(1, (-5, 5)),
           "square9 x rotations -10,0,10": util.latents(1, (-10, 10)),
           "square9 x strokes -1,0,1": util.latents(1, (), (-1, 1))}     # declared later, with the strokes profile


# the walkthrough's resolution, declared before any of its figures was read: the
# pixelcnn28_plain models (28x28) alone and with the `shift` GRUs; each row a list of parts
# (a set of models, its transforms) weighted equally, each part the equal mixture over
# its own terms
CROSS5 = SHAPES["cross5"]
ROWS28 = {"pixelcnn28_plain, image as it is": [("pixelcnn28_plain", SHAPES["none"])],
          "pixelcnn28_plain, 5 shifts (cross)": [("pixelcnn28_plain", CROSS5)],
          "shift + pixelcnn28_plain, 5 shifts each (cross), equal terms": [("shift+pixelcnn28_plain", CROSS5)],
          "shift 9 shifts | pixelcnn28_plain as it is, the two halves weighted equally":
              [("shift", SHAPES["square9"]), ("pixelcnn28_plain", SHAPES["none"])]}


# the PixelCNN that sees every earlier pixel (a 19x19 first layer), declared before any of
# its figures was read, with the `pixelcnn` rows above to compare
ROWS_WIDE = {"pixelcnn_wide, image as it is: --profile=pixelcnn_wide": [("pixelcnn_wide", SHAPES["none"])],
             "pixelcnn_wide, 5 shifts (cross)": [("pixelcnn_wide", CROSS5)],
             "pixelcnn_wide, 9 shifts": [("pixelcnn_wide", SHAPES["square9"])],
             "shift + pixelcnn_wide, 9 shifts each": [("shift+pixelcnn_wide", SHAPES["square9"])]}
# a larger input (14x14, which a CNN reads better than 10x10: experiments/inputs.py), declared
# before any of its figures was read; no mixes with the 10x10 sets (another variable)
ROWS14 = {"pixelcnn14, image as it is: --profile=pixelcnn14": [("pixelcnn14", SHAPES["none"])],
          "pixelcnn14, 5 shifts (cross)": [("pixelcnn14", CROSS5)],
          "pixelcnn14, 9 shifts": [("pixelcnn14", SHAPES["square9"])]}
# the rotation as a latent learnt in training (the PixelCNN trained on 9 shifts x rotations
# 0, -10, +10 degrees), declared before any of its figures was read
ROWS_ROTATE = {"pixelcnn_rotate, image as it is": [("pixelcnn_rotate", SHAPES["none"])],
               "pixelcnn_rotate, 9 shifts": [("pixelcnn_rotate", SHAPES["square9"])],
               "pixelcnn_rotate, 9 shifts x rotations 0,+-10: --profile=pixelcnn_rotate":
                   [("pixelcnn_rotate", util.latents(1, (-10, 10)))]}
# elastic deformations in training (the PixelCNN trained on 9 shifts x the image as it is and
# 2 elastic deformations of it), declared before any of its figures was read
ROWS_ELASTIC = {"pixelcnn_elastic, image as it is": [("pixelcnn_elastic", SHAPES["none"])],
                "pixelcnn_elastic, 9 shifts: --profile=pixelcnn_elastic": [("pixelcnn_elastic", SHAPES["square9"])]}
# shifts of up to two pixels at test time (the models trained on one-pixel shifts), declared
# before any of its figures was read
SQUARE25 = util.latents(2)
ROWS_RADIUS2 = {"shift, 25 shifts (radius 2): --profile=shift --test_shifts=2": [("shift", SQUARE25)],
                "pixelcnn, 25 shifts": [("pixelcnn", SQUARE25)],
                "shift + pixelcnn, 25 shifts each": [("shift+pixelcnn", SQUARE25)]}
# the `shift` recipe on deskewed images (each 28x28 image sheared upright first, in training
# and classification), declared before any of its figures was read
ROWS_DESKEW = {"shift_deskew, image as it is": [("shift_deskew", SHAPES["none"])],
               "shift_deskew, 9 shifts: --profile=shift_deskew": [("shift_deskew", SHAPES["square9"])]}
# scales as a latent (the `shift` models over the 9 shifts, each also scaled about the
# centre; test time only), declared before any of its figures was read
ROWS_SCALES = {"shift, 9 shifts x scales 0.9, 1, 1.1: --profile=scales": [("shift", util.latents(1, scales=(0.9, 1.1)))],
               "shift, 9 shifts x scales 0.8, 1, 1.25": [("shift", util.latents(1, scales=(0.8, 1.25)))]}
# the `shift` recipe trained for 40 epochs instead of 12 (chosen in a selection run with 1/6
# of the training images held out: experiments/selection.py), the shipped set on the usual split
ROWS_LONG = {"shift_long, image as it is": [("shift_long", SHAPES["none"])],
             "shift_long, 9 shifts: --profile=shift_long (best until shift_xlong_orders)": [("shift_long", SHAPES["square9"])]}
# shift_long mixed with the other shipped sets, each over its own terms, declared before any
# of their figures was read, with a rule: 9 held-out images (0.3%) above shift_long to replace it
SQUARE9 = SHAPES["square9"]
ROWS_LONG_MIX = {"shift_long + shift, 9 shifts each": [("shift_long+shift", SQUARE9)],
                 "shift_long + pixelcnn, 9 shifts each": [("shift_long+pixelcnn", SQUARE9)],
                 "shift_long + pixelcnn_wide, 9 shifts each": [("shift_long+pixelcnn_wide", SQUARE9)],
                 "shift_long + pixelcnn_elastic, 9 shifts each": [("shift_long+pixelcnn_elastic", SQUARE9)],
                 "shift_long + shift + pixelcnn, 9 shifts each": [("shift_long+shift+pixelcnn", SQUARE9)],
                 "shift_long 9 shifts | pixelcnn_rotate 9 shifts x rotations 0,+-10, halves equal":
                     [("shift_long", SQUARE9), ("pixelcnn_rotate", util.latents(1, (-10, 10)))]}
# the `shift` recipe reading each image column by column (scan "columns"), alone and mixed
# with the row-by-row sets, declared before any of its figures was read, with a rule: the
# mixture with shift_long replaces shift_long only 9 held-out images (0.3%) above it
ROWS_COLUMNS = {"shift_columns, image as it is": [("shift_columns", SHAPES["none"])],
                "shift_columns, 9 shifts: --profile=shift_columns": [("shift_columns", SQUARE9)],
                "shift + shift_columns, 9 shifts each": [("shift+shift_columns", SQUARE9)],
                "shift_long + shift_columns, 9 shifts each": [("shift_long+shift_columns", SQUARE9)]}
# the same order at shift_long's 40 epochs, declared after the rows above were read and before
# any figure of its own, with their rule (9 held-out images above shift_long, and a
# classification within 3 minutes, to replace it)
ROWS_LONG_COLUMNS = {"shift_long_columns, 9 shifts": [("shift_long_columns", SQUARE9)],
                     "shift_long + shift_long_columns, 9 shifts each": [("shift_long+shift_long_columns", SQUARE9)]}
# the `shift` recipe over 80 epochs in three orders (trained on a GPU with 1/6 held out, and
# chosen on those 10,002 images: experiments/selection.py), each alone and the exact mixture
XLONG = "shift_xlong+shift_xlong_columns+shift_xlong_rows_reversed"
ROWS_XLONG = {"shift_xlong, 9 shifts": [("shift_xlong", SQUARE9)],
              "shift_xlong_columns, 9 shifts": [("shift_xlong_columns", SQUARE9)],
              "shift_xlong_rows_reversed, 9 shifts": [("shift_xlong_rows_reversed", SQUARE9)],
              "the three, 9 shifts each: --profile=shift_xlong_orders (best) --exact": [(XLONG, SQUARE9)]}
GROUPS = {"pixelcnn28": ROWS28, "wide": ROWS_WIDE, "pixelcnn14": ROWS14, "trained_rotations": ROWS_ROTATE,
          "trained_elastic": ROWS_ELASTIC, "radius2": ROWS_RADIUS2, "deskew": ROWS_DESKEW,
          "scales": ROWS_SCALES, "long": ROWS_LONG, "long_mix": ROWS_LONG_MIX, "columns": ROWS_COLUMNS,
          "long_columns": ROWS_LONG_COLUMNS, "xlong": ROWS_XLONG}
AGAINST = {"deskew": "shift", "scales": "shift", "long": "shift", "long_mix": "shift_long",   # errors compared with
           "columns": "shift", "shift_long + shift_columns, 9 shifts each": "shift_long",   # (a row's over
           "long_columns": "shift_long", "xlong": "shift_long"}                             # its group's)


def mixture(parts, name, images, cache):
    """(n, 10) log-likelihoods of an equal mixture of parts, each part (sets, transforms)
    the equal mixture over its sets' models ("a+b": both sets' terms) and its transforms."""
    halves = [util.log_mean_exp(np.concatenate([log_likelihoods(m, name, images, transforms, cache)
                                                for m in members.split("+")]), axis=0)
              for members, transforms in parts]
    return halves[0] if len(halves) == 1 else util.log_mean_exp(np.stack(halves), axis=0)


def route(parts, name, images, labels, priors, cache):
    """Accuracy of the mixture of parts (see mixture); and, for one part whose sets share
    an image size, its own-model NLL (bits/pixel, mean over the digits; None otherwise)."""
    mixed = mixture(parts, name, images, cache)
    acc = np.mean(util.classify(mixed, priors) == labels)
    pixels = {util.settings_for(m).seq_len for m in parts[0][0].split("+")}
    if len(parts) > 1 or len(pixels) > 1:
        return acc, None
    own = -mixed[np.arange(len(labels)), labels] / pixels.pop() / np.log(2)
    return acc, np.mean([own[labels == d].mean() for d in range(10)])


def errors(profile, name, images, labels, priors, cache):
    """What a profile's errors are (its models over the 9 shifts): the commonest (true,
    taken) pairs, and how far the true digit's score lies below the winner's (nats)."""
    scores = mixture([(profile, SHAPES["square9"])], name, images, cache) + priors
    wrong = np.flatnonzero(scores.argmax(1) != labels)
    pairs = collections.Counter(f"{labels[i]}->{scores[i].argmax()}" for i in wrong).most_common(6)
    gap = scores[wrong].max(1) - scores[wrong, labels[wrong]]
    print(f"{profile} errors: {len(wrong)}, commonest {', '.join(f'{p} {n}' for p, n in pairs)}; the true digit "
          f"below the winner by a median {np.median(gap):.1f} nats (quartiles {np.percentile(gap, 25):.1f}, "
          f"{np.percentile(gap, 75):.1f}), {np.mean(gap < 5):.0%} within 5 nats", flush=True)


def against(base, parts, name, images, labels, priors, cache):
    """How a route's answers differ from a profile's (its models over the 9 shifts): how
    many of its errors the route corrects, how many it makes anew, and the commonest new
    (true, taken) pairs."""
    def answers(route_parts):
        return util.classify(mixture(route_parts, name, images, cache), priors)
    taken = answers(parts)
    before, after = answers([(base, SHAPES["square9"])]) != labels, taken != labels
    new = np.flatnonzero(after & ~before)
    pairs = collections.Counter(f"{labels[i]}->{taken[i]}" for i in new)
    print(f"  against {base}'s {before.sum()} errors: corrects {np.sum(before & ~after)}, makes "
          f"{len(new)} new (commonest {', '.join(f'{p} {n}' for p, n in pairs.most_common(4))})",
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=None, help="folder for the per-transform log-likelihoods (default: temporary)")
    p.add_argument("--rows", choices=["all", "shifts", "rotations", "errors", *GROUPS], default="all",
                   help="which rows: every route, the shift routes, the rotation routes, what the `shift` profile's "
                        "errors are, the 28x28 PixelCNN's, the PixelCNN's with a 19x19 first layer, the 14x14 "
                        "PixelCNN's, the rotation-trained PixelCNN's, the PixelCNN's trained with elastic "
                        "deformations, the shifts of up to two pixels, the `shift` recipe on deskewed images, or the "
                        "`shift` models over scaled images, the `shift` recipe trained for 40 epochs, that one mixed "
                        "with the other sets, the `shift` recipe reading column by column, `shift_long`'s recipe so, "
                        "or best's three 80-epoch sets and their mixture (default all)")
    args = p.parse_args()
    args.cache = args.cache or tempfile.mkdtemp(prefix="routes_")
    util.make_folder(args.cache)
    data = util.load_mnist()
    priors = util.log_priors(data["y_train"])
    for name, (images, labels) in splits(data).items():
        print(f"--- {name}: {len(labels)} images")
        if args.rows in ("all", "shifts"):
            for members in MIXES:
                row = [route([("+".join(members), transforms)], name, images, labels, priors, args.cache) + (shape,)
                       for shape, transforms in SHAPES.items()]
                print("+".join(members), " | ".join(f"{shape} {acc:.4f}" for acc, _, shape in row),
                      f"| own-model NLL, square9, digit mean {row[-1][1]:.4f}", flush=True)
        if args.rows in ("all", "rotations"):
            for shape, transforms in ROTATED.items():
                acc, nll = route([("shift", transforms)], name, images, labels, priors, args.cache)
                print(f"shift {shape} {acc:.4f} | own-model NLL, digit mean {nll:.4f}", flush=True)
        if args.rows in ("all", "errors"):
            for profile in ("shift", "shift_long"):
                errors(profile, name, images, labels, priors, args.cache)
        for key, rows in GROUPS.items():
            for row, parts in rows.items() if args.rows in ("all", key) else ():
                acc, nll = route(parts, name, images, labels, priors, args.cache)
                print(f"{row} {acc:.4f}" + (f" | own-model NLL, digit mean {nll:.4f}" if nll else ""), flush=True)
                base = AGAINST.get(row, AGAINST.get(key))
                if base:
                    against(base, parts, name, images, labels, priors, args.cache)


if __name__ == "__main__":
    util.run_main(main)
