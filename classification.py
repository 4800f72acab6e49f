"""Classify images with Bayes' rule over the ten digit models: MNIST's test images, or
your own (image files, folders, .npz or IDX arrays), with a `no digit` verdict for
images that no digit model explains.

    python classification.py --num_images=10000
    python classification.py --num_images=10000 --nll --json
    python classification.py --images my_digits/ photo.jpg
"""
import argparse
import dataclasses
import json
import os
import sys
import time

# The models run on one thread per core, each with its own chunk of images: one BLAS
# thread each is fastest. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import util  # noqa: E402


def build_parser(s):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_images", type=util.positive_int, default=s.classify_num_images,
                   help=f"test images to classify, from the first (default {s.classify_num_images}; the test set has 10000)")
    p.add_argument("--images", nargs="+", metavar="PATH",
                   help="classify these instead: image files, folders, patterns, .npz (x, optional y) or IDX files")
    p.add_argument("--reject", type=util.fraction, default=0.01,
                   help="with --images: `no digit` below the log p(x) that all but this share of held-out training "
                        "digits reach (half on each of two scores); 0: never (default 0.01)")
    p.add_argument("--save_preprocessed", metavar="FILE.png", help="with --images: a grid of the images as the models see them")
    util.add_bool_flag(p, "--uniform_priors", False, "equal priors p(k) = 1/10 (the tutorial's variant) instead of the training shares")
    util.add_classifier_flags(p, s)
    p.add_argument("--engine", dest="classify_engine", choices=util.ENGINES, default=s.classify_engine,
                   help=f"numpy (CPU), keras (the backend's compiled graph: GPU) or auto: keras where an NVIDIA GPU is (default {s.classify_engine})")
    util.add_bool_flag(p, "--exact", False, f"the whole mixture for every digit, not only those within {s.cascade_margin:g} nats of the best unshifted")
    util.add_bool_flag(p, "--nll", False, "also report each model's NLL of each digit's images, in bits per pixel")
    util.add_bool_flag(p, "--json", False, "print one JSON object with all results instead of text")
    p.add_argument("--confusion_output", default=None,
                   help="PNG of the confusion matrix (default generated/confusion_matrix.png; 'none' to skip)")
    p.add_argument("--models_dir", default=None, help=f"folder of the model files (default: the profile's, {s.models_dir})")
    util.add_bool_flag(p, "--quiet", False, "no progress bar")
    return p


def main(argv=None):
    s, args = util.parse_flags(build_parser, argv)
    s = dataclasses.replace(s, **{k: getattr(args, k) for k in util.CLASSIFIER_FLAGS}, classify_engine=args.classify_engine,
                            models_dir=util.models_dir_flag(s, args.models_dir),
                            cascade_margin=0.0 if args.exact else s.cascade_margin)
    util.print_settings(s, args, ["models_dir", "mix", "ensemble", *util.CLASSIFIER_FLAGS,
                                  *["fallback_share"][:s.robust_fallback or s.strokes_fallback], "cascade_margin", "cascade_sets_margin",
                                  "classify_engine", "classify_chunk", "classify_workers"],
                        skip=("num_images",) if args.images else ("images", "reject", "save_preprocessed"))
    start, data, res = time.time(), util.load_mnist(), {}
    if args.images:
        images, labels, names = (found := util.read_images(args.images)).x, found.y, found.names
    else:
        if args.num_images > len(data["x_test"]):
            print(f"note: the test set has {len(data['x_test'])} images; classifying them all", file=sys.stderr)
        images, labels = data["x_test"][:args.num_images], data["y_test"][:args.num_images]
    reader = util.Reader(s, data, args.uniform_priors)
    compute = time.time()
    reading = loglik, stage, seen = reader.reading(images, not args.quiet and sys.stderr.isatty(), reader.priors)
    res.update(num_images=len(images), model_seconds=round(time.time() - compute, 2),
               priors="uniform" if args.uniform_priors else "training")
    if len(reader.stages) > 1:
        res["readings"] = reader.counts(stage)
    if args.images:
        res["no_digit_below"] = reader.limits(args.reject)
        res["images"] = reader.verdicts(names, images, reading, args.reject)
        if args.save_preprocessed:
            res["preprocessed_png"] = util.save_png(util.preprocessed_grid(
                seen, reader.levels(seen), reader.net.levels - 1), args.save_preprocessed)
    if labels is not None:
        pred = util.classify(loglik, reader.priors)
        res.update(util.classification_report(labels, pred, util.confusion_matrix(labels, pred)))
        if args.nll:
            res["nll_bits_per_pixel"] = util.nll_table(loglik, labels, reader.net.seq_len).tolist()
        out = util.output_path(args.confusion_output, s.generated_dir, "confusion_matrix.png")
        if out:
            res["confusion_png"] = util.save_confusion_png(res["confusion_matrix"], out)
    res["seconds"] = round(time.time() - start, 2)
    print(json.dumps(res) if args.json else util.format_report(res))
    if args.images and found.problems:
        print("\n".join(f"error: {problem}" for problem in found.problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    util.run_main(main)
