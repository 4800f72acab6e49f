"""Train the pixel-sequence GRU of one digit (or of all ten) on MNIST.

Several models (all ten digits, ensemble members) train side by side in one graph,
each on its own digit's images only; each is saved as its own file.

    python train_mnist.py --all_digits=True
    python train_mnist.py --digit=0 --num_images=100 --epochs=100
"""
import argparse
import os
import sys
import time

import config
import util


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digit", type=util.digit_arg, default=0, help="digit to train, 0..9 (default 0)")
    p.add_argument("--num_images", type=util.positive_int, default=None,
                   help="training images of the digit to use (default: all)")
    p.add_argument("--epochs", type=util.positive_int, default=config.epochs,
                   help="passes over a digit's images (the mean count when several train "
                        f"together; default {config.epochs})")
    p.add_argument("--all_digits", type=util.str2bool, default=False, metavar="{True,False}",
                   help="train all ten digits, side by side (default False)")
    p.add_argument("--batch_size", type=util.positive_int, default=config.batch_size,
                   help=f"sequences per gradient step (default {config.batch_size})")
    p.add_argument("--learning_rate", type=util.positive_float, default=config.learning_rate,
                   help=f"Adam's peak learning rate (default {config.learning_rate})")
    p.add_argument("--lr_schedule", choices=["cosine", "constant"], default=config.lr_schedule,
                   help=f"learning-rate schedule (default {config.lr_schedule})")
    p.add_argument("--validation_fraction", type=util.fraction, default=config.validation_fraction,
                   help="share of the images held out to pick the best epoch; 0 keeps the last "
                        f"(default {config.validation_fraction})")
    p.add_argument("--clipnorm", type=util.non_negative_float, default=config.clipnorm,
                   help=f"largest gradient norm per step, 0 for no clipping (default {config.clipnorm})")
    p.add_argument("--seed", type=int, default=config.seed, help=f"random seed (default {config.seed})")
    p.add_argument("--skip_existing", type=util.str2bool, default=False, metavar="{True,False}",
                   help="with --all_digits, skip digits whose model file exists (default False)")
    p.add_argument("--resume", type=util.str2bool, default=False, metavar="{True,False}",
                   help="continue a stopped run: a digit continues from its last epoch checkpoint, "
                        "a digit already trained with the same settings is kept (default False)")
    p.add_argument("--models_dir", default=config.models_dir,
                   help="folder of the model files (default: the profile's, trained/mnist_models)")
    util.add_profile_flag(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv=None):
    util.apply_profile_flag(argv, "train_mnist.py")
    args = parse_args(argv)
    util.print_settings(args)
    os.makedirs(args.models_dir, exist_ok=True)
    data = util.load_mnist()
    digits = range(10) if args.all_digits else [args.digit]
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)   # 2: a line per epoch
    run = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
               lr_schedule=args.lr_schedule, validation_fraction=args.validation_fraction,
               clipnorm=args.clipnorm)
    if config.train_shifts:
        run["train_shifts"] = config.train_shifts
    jobs = []
    for digit, member in [(d, m) for d in digits for m in range(config.ensemble)]:
        path = util.model_path(args.models_dir, digit, member)
        if args.skip_existing and os.path.exists(path):
            print(f"digit {digit}: {path} exists, skipped")
            continue
        images = data["x_train"][data["y_train"] == digit]
        if args.num_images is not None and args.num_images > len(images):
            print(f"digit {digit}: only {len(images)} training images, using them all")
        images = images[:args.num_images]
        seed = args.seed + member
        if args.resume and util.finished_with(path, dict(run, seed=seed, train_images=len(images))):
            print(f"digit {digit}: {path} is already trained with these settings, kept")
            continue
        levels = (util.preprocess_shifted(images, config.train_shifts) if config.train_shifts
                  else util.preprocess(images))
        jobs.append(dict(levels=levels, path=path, digit=digit, seed=seed))
    if not jobs:
        return
    print(f"training {len(jobs)} model(s) side by side: "
          + " ".join(os.path.basename(job["path"]) for job in jobs))
    start = time.time()
    try:
        metas = util.train_models(jobs, resume=args.resume, verbose=verbose, **run)
    except KeyboardInterrupt:
        sys.exit("interrupted: run the same command with --resume=True to continue from the "
                 "last finished epoch")
    for job, meta in zip(jobs, metas):
        util.save_learning_curve(meta["history"], job["path"].replace(".keras", "_curve.png"),
                                 meta["target_size"] ** 2)
        val = meta["validation_bits_per_pixel"]
        print(f"digit {job['digit']}: {meta['train_images']} images, final loss "
              f"{meta['history'][-1]['loss']:.4f}, best epoch {meta['best_epoch']}"
              + (f", validation {val:.4f} bits/pixel" if val is not None else "") + f" -> {job['path']}")
    print(f"{len(jobs)} model(s) in {time.time() - start:.0f} s")

if __name__ == "__main__":
    util.run_main(main)
