"""Draw new digits from the trained models and save them as a grid picture.

    python generate_mnist.py --digit=2          # -> generated/samples_of_2.png
    python generate_mnist.py --digit=all        # one row per digit
"""
import argparse
import dataclasses
import os
import time

# 25 images are too few to share out: one BLAS thread is fastest, and a busy second
# core cannot stall it. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import util  # noqa: E402


def digit_or_all(text):
    return "all" if str(text).strip().lower() == "all" else util.digit_arg(text)


def build_parser(s):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digit", type=digit_or_all, default=0,
                   help="digit to draw, 0..9, or 'all' for one row per digit (default 0)")
    p.add_argument("--grid_size", type=util.positive_int, default=s.grid_size,
                   help=f"samples per row and column; with --digit=all, per row (default {s.grid_size})")
    p.add_argument("--output_size", type=util.positive_int, default=s.tile_size,
                   help=f"pixels per side of each sample in the picture (default {s.tile_size})")
    p.add_argument("--output", default=None,
                   help="PNG file to write (default generated/samples_of_{digit}.png; other profiles: "
                        "generated/{profile}/...)")
    p.add_argument("--seed", dest="sample_seed", type=int, default=None,
                   help="random seed of the drawing; same seed, same picture (default: fresh)")
    p.add_argument("--temperature", type=util.positive_float, default=s.sample_temperature,
                   help="1.0 samples the model exactly; lower is crisper, higher noisier "
                        f"(default: the profile's, {s.sample_temperature:g})")
    util.add_bool_flag(p, "--show", False, "also open the picture on screen")
    p.add_argument("--models_dir", default=None, help=f"folder of the model files (default: the profile's, {s.models_dir})")
    return p


def main(argv=None):
    s, args = util.parse_flags(build_parser, argv)
    s = dataclasses.replace(s, grid_size=args.grid_size, tile_size=args.output_size,
                            models_dir=util.models_dir_flag(s, args.models_dir))
    util.print_settings(s, args, ["models_dir", "mix", "ensemble", "grid_size", "tile_size"])
    args.output = util.output_path(args.output, s.generated_dir, f"samples_of_{args.digit}.png")
    if args.output is None:
        raise util.UserError("--output=none: the samples must go somewhere")
    digits = list(range(10)) if args.digit == "all" else [args.digit]
    per_digit = s.grid_size if args.digit == "all" else s.grid_size ** 2
    models = util.load_models(s, digits)
    rng = np.random.default_rng(args.sample_seed)
    start = time.time()
    levels = np.concatenate([util.sample(members, per_digit, rng, args.temperature) for members in models])
    seconds = time.time() - start
    rows = len(digits) if args.digit == "all" else s.grid_size
    grid = util.tile_grid(levels, rows, s.grid_size, s.tile_size, models[0][0].levels - 1)
    util.save_png(grid, args.output)
    print(f"sampled {len(levels)} images in {seconds:.3f} s -> {args.output}")
    if args.show:
        from PIL import Image
        try:
            Image.open(args.output).show()
        except Exception as err:   # no display or no viewer: the file is still there
            print(f"could not open a viewer ({err}); the picture is {args.output}")


if __name__ == "__main__":
    util.run_main(main)
