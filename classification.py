"""Classify MNIST test images with Bayes' rule over the ten digit models.

    python classification.py --num_images=10000
    python classification.py --num_images=10000 --nll --json
"""
import argparse
import json
import os
import sys
import time

# The models run on one thread per core, each with its own chunk of images: one BLAS
# thread each is fastest. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import config  # noqa: E402
import util  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_images", type=util.positive_int, default=config.classify_num_images,
                   help=f"test images to classify, from the first (default {config.classify_num_images}; "
                        "the test set has 10000)")
    p.add_argument("--uniform_priors", type=util.str2bool, nargs="?", const=True, default=False,
                   metavar="{True,False}",
                   help="equal priors p(k) = 1/10 (the tutorial's variant) instead of the training "
                        "shares (default False)")
    p.add_argument("--nll", type=util.str2bool, nargs="?", const=True, default=False, metavar="{True,False}",
                   help="also report each model's negative log-likelihood of each digit's test "
                        "images, in bits per pixel (default False)")
    p.add_argument("--json", type=util.str2bool, nargs="?", const=True, default=False, metavar="{True,False}",
                   help="print one JSON object with all results instead of text (default False)")
    p.add_argument("--confusion_output", default=None,
                   help="PNG of the confusion matrix (default generated/confusion_matrix.png; "
                        "'none' to skip)")
    p.add_argument("--models_dir", default=config.models_dir,
                   help="folder of the model files (default: the profile's, trained/mnist_models)")
    util.add_profile_flag(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None):
    util.apply_profile_flag(argv, "classification.py")
    args = parse_args(argv)
    util.print_settings(args, stream=sys.stderr if args.json else sys.stdout)
    out = args.confusion_output or os.path.join(config.generated_dir, "confusion_matrix.png")
    if out.lower() == "none":
        out = None
    elif args.confusion_output is None:
        os.makedirs(config.generated_dir, exist_ok=True)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise util.UserError(f"cannot write {out}: its folder does not exist")
    start = time.time()
    data = util.load_mnist()
    available = len(data["x_test"])
    if args.num_images > available:
        print(f"note: the test set has {available} images; classifying them all", file=sys.stderr)
    images, labels = data["x_test"][:args.num_images], data["y_test"][:args.num_images]
    levels = util.preprocess(images)
    progress = not args.quiet and sys.stderr.isatty()
    nets = util.load_all_models(args.models_dir)
    compute = time.time()
    loglik = np.stack([util.log_likelihoods(net, levels)
                       for net in util.progress_iter(nets, "models", progress)], 1)
    compute = time.time() - compute
    priors = None if args.uniform_priors else util.log_priors(data["y_train"])
    pred = util.classify(loglik, priors)
    cm = util.confusion_matrix(labels, pred)
    res = util.classification_report(labels, pred, cm)
    if args.nll:
        res["nll_bits_per_pixel"] = util.nll_table(loglik, labels, levels[0].size).tolist()
    res.update(num_images=int(len(labels)), seconds=round(time.time() - start, 2),
               model_seconds=round(compute, 2), priors="uniform" if args.uniform_priors else "training")
    if out:
        util.save_confusion_png(cm, out)
        res["confusion_png"] = out
    if args.json:
        print(json.dumps(res))
    else:
        print(util.format_report(res))


if __name__ == "__main__":
    util.run_main(main)
