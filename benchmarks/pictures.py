"""The README's pictures, written into docs/ (the scripts' own output goes to generated/,
which git ignores; this command is the one that changes tracked pictures):

    python benchmarks/pictures.py                   # the samples (about a minute)
    python benchmarks/pictures.py --confusion=True  # and the confusion matrices (minutes)

Every grid is drawn with --seed=0, so a rerun gives the same bytes.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import util  # noqa: E402
from pixelbayes.evaluation import run_process  # noqa: E402

DOCS = os.path.join(ROOT, "docs")
# besides the default, the profiles with shipped models and pictures in docs/ (the pictures of
# experiments whose models left trained/ stay as they were drawn)
PROFILES = ("shift", "pixelcnn", "pixelcnn28", "shift_long", "shift_xlong_orders")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    util.add_bool_flag(p, "--confusion", False, "also classify the 10,000 test images with each profile and "
                                                "draw its confusion matrix")
    args = p.parse_args(argv)
    for digit in [*range(10), "all"]:
        run_process(["generate_mnist.py", f"--digit={digit}", "--seed=0", f"--output={DOCS}/samples_of_{digit}.png"])
    for name in PROFILES:
        util.make_folder(os.path.join(DOCS, name))
        run_process(["generate_mnist.py", f"--profile={name}", "--digit=all", "--seed=0",
                     f"--output={DOCS}/{name}/samples_of_all.png"])
    if args.confusion:
        for name, folder in [(None, DOCS)] + [(n, os.path.join(DOCS, n)) for n in PROFILES]:
            run_process(["classification.py", *([f"--profile={name}"] if name else []), "--num_images=10000", "--quiet",
                         f"--confusion_output={folder}/confusion_matrix.png"])


if __name__ == "__main__":
    util.run_main(main)
