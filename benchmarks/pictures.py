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
import classification  # noqa: E402
import generate_mnist  # noqa: E402
import util  # noqa: E402

DOCS = os.path.join(ROOT, "docs")
# besides the default, the profiles with pictures in the README
PROFILES = ("shift", "pixelcnn", "pixelcnn28", "pixelcnn_wide", "shift_deskew", "shift_long", "shift_columns",
            "shift_xlong_orders")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    util.add_bool_flag(p, "--confusion", False, "also classify the 10,000 test images with each profile and "
                                                "draw its confusion matrix")
    args = p.parse_args(argv)
    for digit in [*range(10), "all"]:
        generate_mnist.main([f"--digit={digit}", "--seed=0", f"--output={DOCS}/samples_of_{digit}.png"])
    for name in PROFILES:
        util.make_folder(os.path.join(DOCS, name))
        generate_mnist.main([f"--profile={name}", "--digit=all", "--seed=0", f"--output={DOCS}/{name}/samples_of_all.png"])
    if args.confusion:
        for name, folder in [(None, DOCS)] + [(n, os.path.join(DOCS, n)) for n in PROFILES]:
            classification.main([*([f"--profile={name}"] if name else []), "--num_images=10000", "--quiet",
                                 f"--confusion_output={folder}/confusion_matrix.png"])


if __name__ == "__main__":
    util.run_main(main)
