"""Classify MNIST test images with Bayes' rule over the ten digit models.

    python classification.py --num_images=10000
    python classification.py --num_images=10000 --nll --json
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

import numpy as np  # noqa: E402

import util  # noqa: E402


def build_parser(s):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num_images", type=util.positive_int, default=s.classify_num_images,
                   help=f"test images to classify, from the first (default {s.classify_num_images}; "
                        "the test set has 10000)")
    util.add_bool_flag(p, "--uniform_priors", False, "equal priors p(k) = 1/10 (the tutorial's variant) "
                                                      "instead of the training shares")
    p.add_argument("--test_shifts", type=util.shift_radius, default=s.test_shifts,
                   help="p(x | k) as the equal mixture over the shifts of the 28x28 image by up to this "
                        f"many pixels; 0: the image as it is (default {s.test_shifts})")
    p.add_argument("--test_rotations", type=util.angles, default=s.test_rotations,
                   help="rotations of the 28x28 image (degrees besides 0, e.g. -10,10; 'none') in that "
                        f"mixture, each with every shift (default {','.join(map(str, s.test_rotations)) or 'none'})")
    util.add_bool_flag(p, "--nll", False, "also report each model's negative log-likelihood of each digit's "
                                          "test images, in bits per pixel")
    util.add_bool_flag(p, "--json", False, "print one JSON object with all results instead of text")
    p.add_argument("--confusion_output", default=None,
                   help="PNG of the confusion matrix (default generated/confusion_matrix.png; 'none' to skip)")
    p.add_argument("--models_dir", default=None, help=f"folder of the model files (default: the profile's, {s.models_dir})")
    util.add_bool_flag(p, "--quiet", False, "no progress bar")
    return p


def confusion_output(s, args):
    """Where the confusion picture goes (None: nowhere); its folder must exist, or be ours."""
    out = args.confusion_output or os.path.join(s.generated_dir, "confusion_matrix.png")
    if out.lower() == "none":
        return None
    if args.confusion_output is None:
        util.make_folder(s.generated_dir)
    elif not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise util.UserError(f"cannot write {out}: its folder does not exist")
    return out


def main(argv=None):
    s, args = util.parse_flags(build_parser, argv)
    s = dataclasses.replace(s, test_shifts=args.test_shifts, test_rotations=args.test_rotations,
                            models_dir=util.models_dir_flag(s, args.models_dir))
    util.print_settings(s, args, ["models_dir", "mix", "ensemble", "test_shifts", "test_rotations",
                                  "classify_chunk", "classify_workers"])
    out = confusion_output(s, args)
    start = time.time()
    data = util.load_mnist()
    if args.num_images > len(data["x_test"]):
        print(f"note: the test set has {len(data['x_test'])} images; classifying them all", file=sys.stderr)
    images, labels = data["x_test"][:args.num_images], data["y_test"][:args.num_images]
    models = util.load_models(s)
    copies = util.classifier_inputs(images, models, util.latents(s.test_shifts, s.test_rotations))
    compute = time.time()
    progress = not args.quiet and sys.stderr.isatty()
    loglik = np.stack([util.digit_log_likelihoods(members, copies, s.classify_chunk, s.classify_workers)
                       for members in util.progress_iter(models, "models", progress)], 1)
    compute = time.time() - compute
    pred = util.classify(loglik, None if args.uniform_priors else util.log_priors(data["y_train"]))
    cm = util.confusion_matrix(labels, pred)
    res = util.classification_report(labels, pred, cm)
    if args.nll:
        res["nll_bits_per_pixel"] = util.nll_table(loglik, labels, copies.shape[-1] ** 2).tolist()
    res.update(num_images=int(len(labels)), seconds=round(time.time() - start, 2),
               model_seconds=round(compute, 2), priors="uniform" if args.uniform_priors else "training")
    if out:
        util.save_confusion_png(cm, out)
        res["confusion_png"] = out
    print(json.dumps(res) if args.json else util.format_report(res))


if __name__ == "__main__":
    util.run_main(main)
