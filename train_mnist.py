"""Train the pixel-sequence model of one digit (or of all ten) on MNIST.

Several models (all ten digits, ensemble members) train side by side in one graph, each on its own images:
    python train_mnist.py --all_digits=True
    python train_mnist.py --digit=0 --num_images=100 --epochs=100
"""
import argparse
import dataclasses
import os
import sys
import time

import util

TRAINING_FLAGS = [f for f in util.TRAINING_FIELDS if not f.startswith("train_")] + ["seed"]   # flag = field name
USED = ["models_dir", *util.MODEL_FIELDS, "ensemble", *util.TRAINING_FIELDS, "seed"]      # printed once


def build_parser(s):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digit", type=util.digit_arg, default=0, help="digit to train, 0..9 (default 0)")
    p.add_argument("--num_images", type=util.positive_int, help="training images of the digit to use (default: all)")
    p.add_argument("--epochs", type=util.positive_int, default=s.epochs,
                   help=f"passes over a digit's images (the mean count when several train together; default {s.epochs})")
    util.add_bool_flag(p, "--all_digits", False, "train all ten digits, side by side")
    p.add_argument("--batch_size", type=util.positive_int, default=s.batch_size, help=f"sequences per gradient step (default {s.batch_size})")
    p.add_argument("--learning_rate", type=util.positive_float, default=s.learning_rate, help=f"Adam's peak learning rate (default {s.learning_rate})")
    p.add_argument("--lr_schedule", choices=["cosine", "constant"], default=s.lr_schedule, help=f"learning-rate schedule (default {s.lr_schedule})")
    p.add_argument("--validation_fraction", type=util.fraction, default=s.validation_fraction,
                   help=f"share of the images held out to pick the best epoch; 0 keeps the last (default {s.validation_fraction})")
    p.add_argument("--validation_block", type=util.positive_int, default=s.validation_block, help="hold that share out in runs of "
                   f"this many consecutive images of the digit (fewer writers shared with training); 1: one by one (default {s.validation_block})")
    p.add_argument("--clipnorm", type=util.non_negative_float, default=s.clipnorm,
                   help=f"largest gradient norm per step, 0 for no clipping (default {s.clipnorm})")
    p.add_argument("--seed", type=int, default=s.seed, help=f"random seed (default {s.seed})")
    util.add_bool_flag(p, "--skip_existing", False, "with --all_digits, skip digits whose model file exists")
    util.add_bool_flag(p, "--resume", False, "continue a stopped run from its last finished epoch; keep models "
                                              "trained with these settings")
    p.add_argument("--models_dir", help=f"folder of the model files (default: the profile's, {s.models_dir})")
    p.add_argument("--init_models", default=s.init_profile and util.settings_for(s.init_profile).models_dir,
                   help="folder of trained models of the same network to start from (default: init_profile's, or none)")
    p.add_argument("--devices", type=util.devices_arg, default="1",
                   help="devices to train on, a number or 'all' (data parallel; KERAS_BACKEND=jax) (default 1)")
    util.add_bool_flag(p, "--quiet", False, "no progress bars")
    return p


def main(argv=None):
    s, args = util.parse_flags(build_parser, argv)
    if s.mix:                       # a mixture of profiles: train each of them in turn
        util.models_dir_flag(s, args.models_dir)
        for name in s.mix:
            main(util.without_profile(sys.argv[1:] if argv is None else argv) + [f"--profile={name}"])
        return
    s = dataclasses.replace(s, models_dir=util.models_dir_flag(s, args.models_dir),
                            **{k: getattr(args, k) for k in TRAINING_FLAGS})
    util.print_settings(s, args, USED)
    if not (jobs := util.training_jobs(s, args, util.load_mnist())):     # refused starting points make no folder
        return
    util.make_folder(s.models_dir)
    devices = util.use_devices(args.devices, s.batch_size)
    print(f"training {len(jobs)} model(s) side by side on {devices} device(s): " + " ".join(os.path.basename(j["path"]) for j in jobs))
    start, verbose = time.time(), 0 if args.quiet else (1 if sys.stdout.isatty() else 2)   # 1: a bar, 2: a line per epoch
    try:
        metas = util.train_models(jobs, s, resume=args.resume, verbose=verbose)
    except KeyboardInterrupt:
        sys.exit("interrupted: run the same command with --resume=True to continue from the last finished epoch")
    for job, meta in zip(jobs, metas):
        util.save_learning_curve(meta["history"], job["path"].replace(".keras", "_curve.png"))
        val = meta["validation_bits_per_pixel"]
        print(f"digit {job['digit']}: {meta['train_images']} images, final {meta['history'][-1]['bits_per_pixel']:.4f} "
              f"bits/pixel, best epoch {meta['best_epoch']}{'' if val is None else f', validation {val:.4f} bits/pixel'} -> {job['path']}")
    print(f"{len(jobs)} model(s) in {time.time() - start:.0f} s")


if __name__ == "__main__":
    util.run_main(main)
