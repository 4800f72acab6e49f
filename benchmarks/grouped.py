"""The PixelCNN's side-by-side training graph: one grouped convolution per layer (what
training runs on a GPU) against one convolution per model per layer (on the CPU), ten
models of the pixelcnn profile on the same images, epochs alternating; prints images/s
of each and the ratio.

    python benchmarks/grouped.py [--images=256] [--rounds=2]
"""
import argparse
import dataclasses
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import util  # noqa: E402
from pixelbayes.evaluation import training_rates  # noqa: E402
from pixelbayes.families import pixelcnn  # noqa: E402


class PerModel(pixelcnn.PixelCNNFamily):
    """The same family, its graph a chain of keras.ops.conv per model (the earlier form)."""
    name = "pixelcnn_per_model"

    @staticmethod
    def forward(ops, w, pixels, s):
        saved, pixelcnn.GROUPED = pixelcnn.GROUPED, False
        try:
            return pixelcnn.PixelCNNFamily.forward(ops, w, pixels, s)
        finally:
            pixelcnn.GROUPED = saved


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=util.positive_int, default=256, help="training images per digit (default 256)")
    p.add_argument("--rounds", type=util.positive_int, default=2, help="timed epochs of each graph (default 2)")
    args = p.parse_args()
    util.FAMILIES[PerModel.name] = PerModel
    data = util.load_mnist()
    per_digit = [util.preprocess(data["x_train"][data["y_train"] == d][:args.images], 10, 6) for d in range(10)]
    pixelcnn.GROUPED = True
    grouped = util.settings_for("pixelcnn")
    rates = training_rates([grouped, dataclasses.replace(grouped, family=PerModel.name)], per_digit, rounds=args.rounds)
    print(f"backend {util.get_keras().backend.backend()}: grouped {rates[0]:.0f} images/s, per model {rates[1]:.0f} "
          f"images/s, grouped / per model {rates[0] / rates[1]:.2f}x")


if __name__ == "__main__":
    util.run_main(main)
