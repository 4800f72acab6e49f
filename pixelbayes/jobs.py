"""Training jobs: which models a training command (train_mnist.py) trains, each on which
images, into which file, from which start (training.train_models takes the list)."""
import os

import numpy as np

from .errors import UserError
from .modelfiles import model_path, starting_point
from .preprocess import preprocess_transformed
from .splits import split_validation
from .training import finished_with


def training_jobs(s, flags, data):
    """The jobs of one command: a shared detail model's one (settings.shape), else one per
    digit and member (a detail model per digit: settings.detail_per_digit)."""
    return (detail_jobs if s.shared_detail else digit_jobs)(s, flags, data)


def digit_jobs(s, flags, data):
    """One job per model of a digit (and ensemble member): its images (a copy per transform of
    s.train_latents()), file, seed, member, start. flags: train_mnist.py's."""
    jobs = []
    for digit, member in [(d, m) for d in (range(10) if flags.all_digits else [flags.digit]) for m in range(s.ensemble)]:
        path = model_path(s.models_dir, digit, member)
        if flags.skip_existing and os.path.exists(path):
            print(f"digit {digit}: {path} exists, skipped")
            continue
        images = data["x_train"][data["y_train"] == digit]
        if flags.num_images is not None and flags.num_images > len(images):
            print(f"digit {digit}: only {len(images)} training images, using them all")
        images = images[:flags.num_images]
        job = dict(path=path, digit=digit, member=member, seed=s.seed + member, train_images=len(images),
                   **(starting_point(flags.init_models, digit, member, s) if flags.init_models else {}))
        if flags.resume and finished_with(path, s, job):
            print(f"digit {digit}: {path} is already trained with these settings, kept")
            continue
        jobs.append(dict(job, levels=preprocess_transformed(images, s.train_latents(), s.target_size, s.max_intensity,
                                                            s.deskew)))
    return jobs


def detail_jobs(s, flags, data):
    """train_mnist.py's one job of a detail model (family "detail"): every digit's training
    images (the first flags.num_images of each), digit by digit, each digit's share held out
    as its own model would hold it out (the same images as the shape models')."""
    if not flags.all_digits:
        raise UserError(f"profile {s.profile} trains one detail model on every digit's images; use --all_digits=True")
    path = model_path(s.models_dir, "all")
    if flags.skip_existing and os.path.exists(path):
        print(f"{path} exists, skipped")
        return []
    parts = [data["x_train"][data["y_train"] == d][:flags.num_images] for d in range(10)]
    splits = [split_validation(len(p), s.validation_fraction, s.seed, s.validation_block) for p in parts]
    starts = np.cumsum([0] + [len(p) for p in parts])
    split = tuple(np.concatenate([sp[k] + lo for sp, lo in zip(splits, starts)]) for k in (0, 1))
    job = dict(path=path, digit="all", member=0, seed=s.seed, train_images=int(starts[-1]), split=split,
               **(starting_point(flags.init_models, "all", 0, s) if flags.init_models else {}))
    if flags.resume and finished_with(path, s, job):
        print(f"{path} is already trained with these settings, kept")
        return []
    return [dict(job, levels=preprocess_transformed(np.concatenate(parts), s.train_latents(), s.target_size,
                                                    s.max_intensity, s.deskew))]
