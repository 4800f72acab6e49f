"""Model files: the family's saved Keras form (a plain .keras file, no optimizer) with the
settings it was trained with and its history in an extra zip entry; read without Keras
when laid out as we write them."""
import io
import json
import os
import shlex
import zipfile

import numpy as np

from .backend import get_keras
from .errors import UserError, one_line
from .families import FAMILIES, GRUFamily
from .files import atomic_write
from .preprocess import SCANS
from .settings import MODEL_FIELDS, TRAINING_FIELDS, ModelSettings, profiles_of_family, settings_for

FORMAT = "pixelbayes-{family}/3"             # the family's name in it; older files say gru-mnist/1 or /2,
META_NAME = "pixelbayes.json"                # whatever their family, and keep their record in
OLD_META_NAMES = ("gru_mnist.json",)          # gru_mnist.json: both are read
_LEGACY_NAMES = {"units": "gru_units"}        # format gru-mnist/1 kept its settings flat


def model_path(models_dir, digit, member=0):
    """model_{digit}.keras; member m > 0 of an ensemble: model_{digit}_member{m}.keras."""
    name = f"model_{digit}.keras" if member == 0 else f"model_{digit}_member{member}.keras"
    return os.path.join(models_dir, name)


def save_model(path, weights, settings, meta):
    """Save the family's Keras form with these weights (no optimizer) and, as an extra
    entry of the .keras zip, meta plus the settings record, atomically."""
    model = FAMILIES[settings.family].keras_model(settings)
    model.set_weights(weights)
    record = dict(meta, format=FORMAT.format(family=settings.family), settings=settings.record())

    def write(tmp):
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(META_NAME, json.dumps(record, indent=1, sort_keys=True))
    atomic_write(path, write, suffix=".keras")


def read_meta(path):
    """A model file's metadata, with its settings under "settings" (files of format
    gru-mnist/1, which kept them flat, are read the same way); None if it has none."""
    with zipfile.ZipFile(path) as z:
        entry = next((n for n in (META_NAME, *OLD_META_NAMES) if n in z.namelist()), None)
        if entry is None:
            return None
        meta = json.loads(z.read(entry))
    if "settings" not in meta:
        flat = {_LEGACY_NAMES.get(k, k): v for k, v in meta.items()}
        names = MODEL_FIELDS + GRUFamily.fields + TRAINING_FIELDS
        meta = {k: v for k, v in meta.items() if _LEGACY_NAMES.get(k, k) not in names}
        first = {"family": "gru", "deskew": False, "scan": "rows", "validation_block": 1, "train_shifts": 0,
                 "train_rotations": [], "train_elastic": 0, "train_objective": "augment"}
        meta["settings"] = dict(first, **{k: flat[k] for k in names if k in flat})
    return meta


def read_weights(path, family):
    """The family's weights straight from our .keras zip, without Keras; None if laid out otherwise."""
    import h5py
    with zipfile.ZipFile(path) as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
        if not family.accepts(layers):
            return None
        names = family.file_weights(layers)
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            if not all(n in f for n in names):
                return None
            return [f[n][()] for n in names]


def train_command(digit, settings):
    """The command that trains digit's model with these settings ("all": every digit's): the
    flags that matter (--digit or --all_digits, --profile unless it is the default,
    --models_dir unless it is the profile's)."""
    flag = "--all_digits=True" if digit == "all" else f"--digit={digit}"
    words = ["python", "train_mnist.py"] + ([flag] if digit is not None else [])
    if settings is not None:
        if settings.profile != settings.default_profile:
            words.append(f"--profile={settings.profile}")
        if os.path.abspath(settings.models_dir) != os.path.abspath(settings_for(settings.profile).models_dir):
            words.append(f"--models_dir={settings.models_dir}")
    return " ".join(shlex.quote(w) for w in words)


def load_net(path, digit=None, settings=None):
    """One model file as its family's numpy net (net.meta, net.settings), checked.

    Our .keras files are read directly (no Keras start-up); anything else (the tutorial's
    .h5, other layouts) goes through Keras. `settings` (the profile's) names the command
    that trains a missing file and gives what a file without metadata cannot say.
    """
    if not os.path.exists(path):
        raise UserError(f"model file {path} is missing; train it with `{train_command(digit, settings)}`")
    try:
        meta = read_meta(path) if path.endswith(".keras") else None
        family = FAMILIES.get((meta or {"settings": {"family": "gru"}})["settings"].get("family"))
        weights = read_weights(path, family) if meta is not None and family is not None else None
        if weights is None and family is not None:
            fallback = settings or (ModelSettings.from_record(meta["settings"]) if meta else None)
            if fallback is None:
                raise UserError(f"{path} does not record its settings; load it with a profile's settings")
            weights, record = family.from_keras_model(_keras_load(path, family), fallback)
            meta = meta or {"settings": record}
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{path} is not a readable model file ({one_line(err)})") from None
    if family is None:
        raise UserError(f"{path} holds a model of family {meta['settings'].get('family')!r}, which this "
                        f"version does not know (known: {', '.join(FAMILIES)})")
    if digit is not None and meta.get("digit", digit) != digit:
        raise UserError(f"{path} holds the model of digit {meta.get('digit')}, not {digit}")
    recorded = ModelSettings.from_record(meta["settings"])
    if recorded.scan not in SCANS or (recorded.scan == "subscale" and recorded.family != "gru"):
        raise UserError(f"{path} records scan={recorded.scan!r} for the {recorded.family} family, which this version "
                        f"cannot read (scans: {', '.join(SCANS)}; subscale for the gru family only)")
    if not isinstance(recorded.validation_block, int) or recorded.validation_block < 1:
        raise UserError(f"{path} records validation_block={recorded.validation_block!r}; a held-out run is 1 image or more")
    return family.Net(weights, recorded, meta)


def _keras_load(path, family):
    """keras.models.load_model with the family's own custom classes, for inference."""
    return get_keras().models.load_model(path, compile=False, custom_objects=family.custom_objects())


def model_sets(settings):
    """The settings of each set of models that a profile uses: its own, or, for a
    mixture of profiles (settings.mix), each named profile's."""
    return [settings_for(name) for name in settings.mix] if settings.mix else [settings]


def model_files(settings, digits=range(10)):
    """The paths of the files whose models a profile reads for these digits (load_models)."""
    if settings.shape:
        details = ["all"] if settings.shared_detail else list(digits)
        return model_files(settings_for(settings.shape), digits) + [model_path(settings.models_dir, d) for d in details]
    return [model_path(s.models_dir, d, m) for s in model_sets(settings) for d in digits for m in range(s.ensemble)]


def check_family(net, settings, path):
    """A file of another family than the profile's (a PixelCNN among GRU files) is refused."""
    family = net.settings.family
    if family != settings.family:
        fits = profiles_of_family(family)
        hint = f"use --profile={fits[0]} for a folder of such models, or " if fits else ""
        raise UserError(f"{path} holds a {family} model, but profile {settings.profile} uses {settings.family} "
                        f"models; {hint}keep one family per folder")


def load_models(settings, digits=range(10)):
    """Each digit's list of nets (an equal mixture when more than one: the ensemble's
    members, or the models of each profile in settings.mix), each of its profile's
    family. All must share one image shape, which sampling and classification then take
    from them."""
    if settings.shape:
        return _shape_then_detail(settings, digits)
    members = [(s, m) for s in model_sets(settings) for m in range(s.ensemble)]
    for s, m in members:
        if len(digits) > 1 and not any(os.path.exists(model_path(s.models_dir, d, m)) for d in digits):
            raise UserError(f"{s.models_dir} holds none of the models {os.path.basename(model_path(s.models_dir, 'N', m))}; "
                            f"train them with `{train_command('all', s)}`")
    models = []
    for d in digits:
        models.append([load_net(model_path(s.models_dir, d, m), d, s) for s, m in members])
        for (s, m), net in zip(members, models[-1]):
            check_family(net, s, model_path(s.models_dir, d, m))
    shapes = sorted({(net.target_size, net.levels, net.settings.deskew) for net in sum(models, [])})
    if len(shapes) > 1:
        raise UserError("the models do not share one input shape (" + ", ".join(
            f"{size}x{size} with {levels} levels{', deskewed' if deskew else ''}" for size, levels, deskew in shapes)
            + "); retrain the odd ones")
    return models


def _shape_then_detail(settings, digits):
    """load_models for a profile of shape and detail: each digit's shape models (the shape
    profile's) each times the one detail model of this profile, or the digit's own
    (detail_per_digit): ShapeThenDetail."""
    from .families import ShapeThenDetail
    shapes = load_models(settings_for(settings.shape), digits)

    def detail(name):
        path = model_path(settings.models_dir, name)
        net = load_net(path, name, settings)
        check_family(net, settings, path)
        return net
    details = [detail("all")] * len(shapes) if settings.shared_detail else [detail(d) for d in digits]
    return [[ShapeThenDetail(net, own) for net in nets] for own, nets in zip(details, shapes)]


def starting_point(init_dir, digit, member, settings):
    """What a job adds to start from a trained model in init_dir (of the same network)
    instead of random weights: its weights ("init") and what the new file records of it
    ("init_from": its settings, epochs and backend)."""
    path = model_path(init_dir, digit, member)
    if settings.shape and not os.path.exists(path):
        path, digit = model_path(init_dir, "all"), "all"     # a detail model per digit, from the shared one
    if not os.path.exists(path):
        raise UserError(f"{path} is missing: --init_models names a folder of trained models to start from")
    net = load_net(path, digit)
    mine, theirs = settings.model(), net.settings
    fields = MODEL_FIELDS + FAMILIES[settings.family].fields
    differ = [f"{k}={getattr(theirs, k)!r}" for k in fields if getattr(theirs, k) != getattr(mine, k)]
    if differ:
        raise UserError(f"{path} is another network ({', '.join(differ)}); --init_models needs this profile's")
    meta = net.meta or {}
    layout = FAMILIES[settings.family].weight_layout(settings)
    return dict(init=[np.reshape(np.asarray(w, np.float32), shape) for w, (shape, _) in zip(net.weights, layout)],
                init_from=dict(settings=theirs.record(), best_epoch=meta.get("best_epoch"),
                               train_seconds=meta.get("train_seconds"), backend=meta.get("backend")))
