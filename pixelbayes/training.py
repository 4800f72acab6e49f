"""Training: the models of a command side by side in one graph, an epoch at a time, with a
checkpoint after each (one dict with named keys) and the best epoch of each exported.
The run (Run) and what it has done (Progress) are dataclasses."""
import dataclasses
import json
import math
import os
import time

import numpy as np

from .backend import get_keras
from .errors import UserError
from .families import FAMILIES
from .files import atomic_write, remove_quietly, write_json
from .modelfiles import read_meta, save_model
from .numerics import bits_per_pixel
from .preprocess import identity_index, scan_order
from .settings import ModelSettings
from .splits import split_validation


@dataclasses.dataclass
class Run:
    """A training run set up (setup_training): the settings, each job and its images as
    sequences (transforms, n, steps), the split, steps per epoch, the side-by-side graph."""
    settings: object
    jobs: list
    seqs: list
    train_idx: list
    val_idx: list
    steps: int
    checkpoint: str                  # path of the checkpoint, less its .npz / .json
    description: dict                # what a checkpoint must match to be resumed
    model: object


@dataclasses.dataclass
class Progress:
    """What a run has done: epochs finished, seconds, each model's history, best held-out
    (else training) loss, its epoch and weights."""
    history: list
    best_loss: list
    best_epoch: list
    best_weights: list
    epoch: int = 0
    seconds: float = 0.0

    def saved(self):
        """The fields a checkpoint's .json keeps (the weights go to its .npz)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "best_weights"}


def pixel_nats(logits, targets):
    """Each model's mean cross-entropy per pixel, in nats: (batch, models, steps) -> (batch, models)."""
    ops = get_keras().ops
    return ops.mean(ops.sparse_categorical_crossentropy(targets, logits, from_logits=True), axis=-1)


def mixture_nats(nats, copies, steps):
    """(images * copies, models) nats per pixel of each copy, an image's copies in
    consecutive rows -> (images, models): -log of the mean of the copies' likelihoods, per
    pixel (the classifier's equal mixture over the transforms; numerics.log_mean_exp's form)."""
    ops = get_keras().ops
    total = -steps * ops.reshape(nats, (-1, copies, ops.shape(nats)[-1]))
    return -(ops.logsumexp(total, axis=1) - math.log(copies)) / steps


def copies_per_image(settings):
    """How many transformed copies of an image one training example holds: all of
    settings.train_latents() with the latent objective, else one (drawn anew each epoch)."""
    return len(settings.train_latents()) if settings.train_objective == "latent" else 1


def build_group_model(settings, groups):
    """`groups` independent models of the settings' family, computed side by side in one
    graph: input (batch, groups, steps) the pixels' levels, output (batch, groups,
    steps, levels) the logits of p(pixel_t | pixels before it). Model g has its own variables (the family's weight layout),
    so its output and gradient are exactly those of a model of its own; one step of the
    graph advances all of them, which costs less per image than a model at a time."""
    keras = get_keras()
    family = FAMILIES[settings.family]

    class SideBySide(keras.layers.Layer):
        def build(self, input_shape):
            self.per_model = [[self.add_weight(shape=shape, initializer=init, name=f"m{g}_w{i}")
                               for i, (shape, init) in enumerate(family.weight_layout(settings))]
                              for g in range(groups)]

        def call(self, x):
            stacked = [keras.ops.stack([ws[i].value for ws in self.per_model])
                       for i in range(len(self.per_model[0]))]
            return family.forward(keras.ops, stacked, x, settings)

    inputs = keras.Input((groups, settings.seq_len), dtype="int32")
    return keras.Model(inputs, SideBySide(name="side_by_side")(inputs), name=f"{family.name}_x{groups}")


def model_weights(model, g):
    """Model g's weights in the graph, in its family's saved order."""
    return [np.array(w) for w in model.get_layer("side_by_side").per_model[g]]


def _stream(n, seed, start, count):
    """Positions start..start+count of one model's endless stream of training images:
    shuffled passes over its n images, pass k shuffled by (seed, k)."""
    pos = np.arange(start, start + count)
    out = np.empty(count, np.int64)
    for k in np.unique(pos // n):
        here = pos // n == k
        out[here] = np.random.default_rng([seed, int(k)]).permutation(n)[pos[here] % n]
    return out


def checkpoint_path(models_dir):
    """The hidden checkpoint of a training run in models_dir (.npz arrays, .json the rest)."""
    return os.path.join(models_dir, ".training.ckpt")


def pending_paths(models_dir):
    """Model files that a stopped run in models_dir has checkpointed and not finished."""
    try:
        with open(checkpoint_path(models_dir) + ".json") as f:
            return [job["path"] for job in json.load(f)["run"]["jobs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def setup_training(jobs, settings):
    """A run: each job's data, the side-by-side graph and its optimizer, as a dict.

    jobs: dicts with levels (n, size, size), or (transforms, n, size, size) with a copy per
    transform of settings.train_latents(); path (all in one folder), digit, member, seed;
    split (train, held-out indices), where not split_validation's draw over all its images.
    """
    keras, s = get_keras(), settings
    if s.lr_schedule not in ("cosine", "constant"):
        raise UserError(f"unknown learning-rate schedule {s.lr_schedule!r}")
    seqs = [scan_order(np.asarray(j["levels"]), s.scan).reshape(-1, np.shape(j["levels"])[-3], s.seq_len)
            .astype(np.int32) for j in jobs]           # each image in the order the model reads it
    if any(len(q) != len(s.train_latents()) for q in seqs):
        raise ValueError(f"each job needs one copy of its images per shift of train_shifts={s.train_shifts} "
                         f"and rotation of train_rotations={s.train_rotations} "
                         f"and elastic copy of train_elastic={s.train_elastic}")
    split = [j.get("split") or split_validation(q.shape[1], s.validation_fraction, j["seed"], s.validation_block)
             for q, j in zip(seqs, jobs)]             # a job of several digits brings each digit's split
    description = dict(settings=s.record(), jobs=[
        dict(digit=j["digit"], member=j.get("member", 0), seed=j["seed"], train_images=int(q.shape[1]),
             path=os.path.abspath(j["path"]), **({"init_from": j["init_from"]} if "init_from" in j else {}))
        for j, q in zip(jobs, seqs)])
    run = Run(settings=s, jobs=jobs, seqs=seqs, train_idx=[t for t, _ in split], val_idx=[v for _, v in split],
              steps=math.ceil(np.mean([len(t) for t, _ in split]) / s.batch_size),
              checkpoint=checkpoint_path(os.path.dirname(os.path.abspath(jobs[0]["path"]))),
              description=description, model=build_group_model(s, len(jobs)))
    model = run.model
    family = FAMILIES[s.family]
    for g, job in enumerate(jobs):          # each starts as its family's Keras form under its seed
        keras.utils.set_random_seed(job["seed"])   # (or as the trained model the job names)
        start = job["init"] if "init" in job else family.keras_model(s).get_weights()
        for var, value in zip(model.get_layer("side_by_side").per_model[g], start):
            var.assign(value)
    rate = (keras.optimizers.schedules.CosineDecay(s.learning_rate, s.epochs * run.steps)
            if s.lr_schedule == "cosine" else s.learning_rate)
    model.compile(keras.optimizers.Adam(rate, clipnorm=s.clipnorm or None),
                  lambda y, logits: keras.ops.sum(_example_nats(s, logits, y), axis=1),
                  metrics=[_model_metric(s, g) for g in range(len(jobs))])
    return run


def _example_nats(settings, logits, y):
    """Each training example's nats per pixel, per model: (examples, models)."""
    copies = copies_per_image(settings)
    nats = pixel_nats(logits, y)
    return nats if copies == 1 else mixture_nats(nats, copies, settings.seq_len)


def _model_metric(settings, g):
    def metric(y, logits):
        return _example_nats(settings, logits, y)[:, g]
    metric.__name__ = f"nats_{g}"
    return metric


def _batch(run, rows, copies=None):
    """Inputs and targets (len, models, steps), both the pixels: rows[g] are model g's
    images, copies[g] which transformed copy of each (default: the identity's; "all": each
    image's copies one after the other, len times as many rows)."""
    plain = identity_index(run.settings.train_latents())
    if isinstance(copies, str):             # "all": every copy of each image, in consecutive rows
        y = np.stack([q[:, rows[g]].transpose(1, 0, 2).reshape(-1, q.shape[-1]) for g, q in enumerate(run.seqs)],
                     axis=1)
    else:
        y = np.stack([q[plain if copies is None else copies[g], rows[g]] for g, q in enumerate(run.seqs)], axis=1)
    return y, y


def held_out_nats(run):
    """Each model's mean nats per pixel on its held-out images, the loss it trains: of the
    image as it is, or with the latent objective of the mixture over its copies; None without."""
    n_val = max(len(v) for v in run.val_idx)
    if not n_val:
        return [None] * len(run.jobs)
    n_val = -(-n_val // 64) * 64                 # whole batches for up to 64 devices (cycled rows)
    rows = [v[np.arange(n_val) % len(v)] for v in run.val_idx]
    keras, s = get_keras(), run.settings
    per_copy = []                                # a copy at a time: (copies, images, models)
    for c in ([None] if copies_per_image(s) == 1 else range(len(s.train_latents()))):
        x, y = _batch(run, rows, None if c is None else [c] * len(run.jobs))
        per_copy.append(keras.ops.convert_to_numpy(pixel_nats(run.model.predict(x, batch_size=256, verbose=0), y)))
    nats = per_copy[0] if len(per_copy) == 1 else keras.ops.convert_to_numpy(     # copies in consecutive rows
        mixture_nats(np.stack(per_copy, 1).reshape(-1, len(run.jobs)), len(per_copy), s.seq_len))
    return [float(nats[:len(v), g].mean()) if len(v) else None for g, v in enumerate(run.val_idx)]


def train_epoch(run, epoch, verbose):
    """One epoch: each model takes steps batches from its own endless shuffled stream of
    images, each image in a transformed copy drawn anew (the latent objective: in all its
    copies, a batch of batch_size images). Returns the models' training nats."""
    s, count = run.settings, run.steps * run.settings.batch_size
    rows = [t[_stream(len(t), j["seed"], epoch * count, count)] for t, j in zip(run.train_idx, run.jobs)]
    copies = [np.random.default_rng([j["seed"], epoch, 1]).integers(len(q), size=count)
              for j, q in zip(run.jobs, run.seqs)]
    x, y = _batch(run, rows, copies if copies_per_image(s) == 1 else "all")
    logs = run.model.fit(x, y, batch_size=s.batch_size * copies_per_image(s), epochs=1, shuffle=False, verbose=0,
                            callbacks=[_progress(epoch, s.epochs, run.steps)] if verbose == 1 else []).history
    return [float(logs[f"nats_{g}"][-1]) for g in range(len(run.jobs))]


def new_progress(run):
    """What a run has done so far: nothing, each model at its initial weights."""
    groups = len(run.jobs)
    return Progress(history=[[] for _ in range(groups)], best_loss=[None] * groups, best_epoch=[None] * groups,
                    best_weights=[model_weights(run.model, g) for g in range(groups)])


def record_epoch(run, progress, epoch, train, held_out, seconds):
    """Add an epoch's losses to the history; keep each model's best (held-out, else training) weights."""
    for g, (tr, va) in enumerate(zip(train, held_out)):
        progress.history[g].append(dict(epoch=epoch + 1, bits_per_pixel=bits_per_pixel(tr),
                                           val_bits_per_pixel=None if va is None else bits_per_pixel(va)))
        score = tr if va is None else va
        if progress.best_loss[g] is None or score <= progress.best_loss[g]:
            progress.best_loss[g], progress.best_epoch[g] = score, epoch + 1
            progress.best_weights[g] = model_weights(run.model, g)
    progress.epoch, progress.seconds = epoch + 1, progress.seconds + seconds


def save_checkpoint(run, progress):
    """The run's checkpoint, one dict with named keys (nanoGPT's way): the run it belongs
    to, the progress, the graph's weights and the optimizer's state. Arrays go into the
    .npz, the rest into the .json, written last: a .json names a complete .npz."""
    model = run.model
    arrays = {f"weights.{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"optimizer.{i}": get_keras().ops.convert_to_numpy(v)
                   for i, v in enumerate(model.optimizer.variables)})
    arrays.update({f"best_weights.{g}.{i}": w for g, ws in enumerate(progress.best_weights)
                   for i, w in enumerate(ws)})
    path = run.checkpoint
    atomic_write(path + ".npz", lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    write_json(path + ".json", dict(run=run.description, progress=progress.saved()))


def load_checkpoint(run):
    """Put a stopped run's checkpoint back into the graph and optimizer; returns its
    progress, or None when there is no checkpoint. One of another run is refused."""
    path, model = run.checkpoint, run.model
    if not (os.path.exists(path + ".json") and os.path.exists(path + ".npz")):
        return None
    try:
        with open(path + ".json") as f:
            saved = json.load(f)
        with np.load(path + ".npz") as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as err:
        raise UserError(f"checkpoint {path} is not readable ({type(err).__name__}); "
                        f"rerun without --resume") from None
    made = saved.get("run") or {}
    if isinstance(made.get("settings"), dict):      # a checkpoint older than a setting: its default
        made["settings"] = ModelSettings.from_record(made["settings"]).record()
    if made != run.description:
        raise UserError(f"checkpoint {path}.json was made with other settings or models; "
                        f"rerun without --resume to start afresh")
    model.set_weights([arrays[f"weights.{i}"] for i in range(len(model.get_weights()))])
    model.optimizer.build(model.trainable_variables)
    for i, var in enumerate(model.optimizer.variables):
        var.assign(arrays[f"optimizer.{i}"])
    n_weights = len(model_weights(model, 0))
    best = [[arrays[f"best_weights.{g}.{i}"] for i in range(n_weights)] for g in range(len(run.jobs))]
    return Progress(**dict(saved["progress"], best_weights=best))


def export_models(run, progress):
    """Save each model's best weights with its settings and history; remove the checkpoint."""
    keras, s = get_keras(), run.settings
    metas = []
    for g, (job, own) in enumerate(zip(run.jobs, run.description["jobs"])):
        best = progress.best_loss[g]
        meta = dict({k: v for k, v in own.items() if k != "path"}, trained_alongside=len(run.jobs),
                    best_epoch=progress.best_epoch[g], train_seconds=round(progress.seconds, 1),
                    validation_bits_per_pixel=(round(bits_per_pixel(best), 4)
                                               if len(run.val_idx[g]) and best is not None else None),
                    history=progress.history[g], keras_version=keras.__version__,
                    backend=keras.backend.backend())
        save_model(job["path"], progress.best_weights[g], s, meta)
        metas.append(dict(meta, settings=s.record()))
    for leftover in (run.checkpoint + ".npz", run.checkpoint + ".json"):
        remove_quietly(leftover)
    return metas


def train_models(jobs, settings, resume=False, verbose=1, after_epoch=None):
    """Train one model per job, side by side in one graph, and save each (see setup_training).

    Each model sees only its own images: an epoch is ceil(mean n / batch_size) steps of
    batch_size images per model. Adam (gradients clipped per weight, as Keras' clipnorm
    does) with a cosine or constant rate; validation_fraction of each model's images
    (picked by its seed) is held out, and each model keeps its epoch of lowest held-out
    loss (without: of lowest training loss). A checkpoint is written after every epoch,
    so resume=True continues a stopped run. after_epoch(e) is called once epoch e is
    saved. Returns the metadata written into each file.
    """
    run = setup_training(jobs, settings)
    progress = load_checkpoint(run) if resume else None
    if resume and verbose:
        print(f"resuming after epoch {progress.epoch} of {settings.epochs}" if progress
              else "no checkpoint to resume from, starting afresh")
    progress = progress or new_progress(run)
    for epoch in range(progress.epoch, settings.epochs):
        t0 = time.time()
        train = train_epoch(run, epoch, verbose)
        record_epoch(run, progress, epoch, train, held_out_nats(run), time.time() - t0)
        save_checkpoint(run, progress)
        if verbose:
            last = [h[-1]["val_bits_per_pixel"] or h[-1]["bits_per_pixel"] for h in progress.history]
            print(f"epoch {epoch + 1}/{settings.epochs}: {time.time() - t0:.0f} s, "
                  f"{'held-out' if max(map(len, run.val_idx)) else 'training'} bits/pixel "
                  + " ".join(f"{j['digit']}:{v:.3f}" for j, v in zip(jobs, last)), flush=True)
        if after_epoch:
            after_epoch(epoch + 1)
    return export_models(run, progress)


def _progress(epoch, epochs, steps):
    """A one-line progress display for a terminal: epoch, step, mean loss so far."""
    keras = get_keras()

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 10 == 0 or batch + 1 == steps:
                print(f"\repoch {epoch + 1}/{epochs}: step {batch + 1}/{steps}, nats/pixel (all models) "
                      f"{float((logs or {}).get('loss', float('nan'))):.4f}", end="", flush=True)

        def on_train_end(self, logs=None):
            print("\r" + " " * 72 + "\r", end="", flush=True)
    return Progress()


def finished_with(path, settings, job):
    """True if path is a finished model (no stopped run pending on it) trained with these
    settings, seed and number of images."""
    path = os.path.abspath(path)
    if not os.path.exists(path) or path in pending_paths(os.path.dirname(path)):
        return False
    try:
        meta = read_meta(path) or {}
        same = ModelSettings.from_record(meta["settings"]) == settings.model()
    except Exception:
        return False
    return same and all(meta.get(k) == job[k] for k in ("seed", "train_images"))



def use_devices(spec, batch_size):
    """Train across devices: Keras' DataParallel over the first `spec` devices ("all":
    every one; with KERAS_DISTRIBUTION_NUM_PROCESSES above 1, those of every host), each
    step's batch split between them and the gradients summed (the same step as on one
    device, to float rounding). Needs the jax backend; returns the count."""
    if str(spec) == "1":
        return 1
    keras = get_keras()
    if keras.backend.backend() != "jax":
        raise UserError(f"--devices={spec} needs KERAS_BACKEND=jax (keras.distribution); this run uses "
                        f"{keras.backend.backend()}")
    if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
        keras.distribution.initialize()          # several hosts: the addresses come from the environment
    devices = keras.distribution.list_devices()
    n = len(devices) if spec == "all" else int(spec)
    if n > len(devices):
        raise UserError(f"--devices={n}, but the backend sees {len(devices)}: {', '.join(devices)}")
    if batch_size % n:
        raise UserError(f"--batch_size={batch_size} does not split evenly over {n} devices")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:n]))
    return n

