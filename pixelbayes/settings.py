"""One settings value per run, built from config.py and a profile, and one form of a
loaded model's settings. Nothing here changes config.py; nothing after settings_for()
reads it."""
import dataclasses
import os

from .errors import UserError
from .families import FAMILIES
from .preprocess import SCANS, latents


class _Shape:
    """What the image shape and the family's fields give: levels, pixels, the record."""

    @property
    def levels(self):
        """Intensity levels, the width of a pixel's one-hot vector."""
        return self.max_intensity + 1

    @property
    def seq_len(self):
        """Pixels per image."""
        return self.target_size ** 2

    def record(self):
        """The settings a model file keeps: its family's shape and the training recipe."""
        values = {k: getattr(self, k) for k in MODEL_FIELDS + FAMILIES[self.family].fields + TRAINING_FIELDS}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}     # JSON's form

    def train_latents(self):
        """The transforms that training's augmentation draws from (preprocess.latents)."""
        return latents(self.train_shifts, self.train_rotations, elastic=self.train_elastic)


@dataclasses.dataclass(frozen=True)
class Settings(_Shape):
    """Everything a run uses (config.py documents each field). Derived values are properties."""
    profile: str
    default_profile: str
    models_dir: str
    generated_dir: str
    family: str
    target_size: int
    max_intensity: int
    deskew: bool
    scan: str
    gru_units: int
    pixelcnn_filters: int
    pixelcnn_blocks: int
    pixelcnn_first_kernel: int
    ensemble: int
    mix: tuple
    shape: str
    shape_size: int
    detail_per_digit: bool
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    validation_fraction: float
    validation_block: int
    seed: int
    clipnorm: float
    train_shifts: int
    train_rotations: tuple
    train_elastic: int
    train_objective: str
    init_profile: str
    grid_size: int
    tile_size: int
    sample_temperature: float
    classify_num_images: int
    classify_chunk: int
    classify_workers: int
    classify_engine: str
    classify_batch: int
    cascade_margin: float
    cascade_sets_margin: float
    canonical_form: bool
    outlier_share: float
    robust_fallback: bool
    fallback_share: float
    even_strokes: bool
    strokes_fallback: bool
    test_shifts: int
    test_rotations: tuple
    test_strokes: tuple
    test_scales: tuple

    @property
    def shared_detail(self):
        """One detail model (model_all) for every digit: a profile of shape and detail without
        detail_per_digit."""
        return bool(self.shape) and not self.detail_per_digit

    def test_latents(self):
        """The latent transforms of the classifier's mixture (preprocess.latents)."""
        return latents(self.test_shifts, self.test_rotations, self.test_strokes, scales=self.test_scales)

    def cascade_lead(self):
        """How many of each digit's nets the cascade runs first and alone: the first mixed
        profile's (with cascade_sets_margin > 0; of the shape profile's mix, for a profile of
        shape and detail); None: all of them at each step."""
        mix = self.mix or (settings_for(self.shape).mix if self.shape else ())     # shape models mixed too
        return settings_for(mix[0]).ensemble if mix and self.cascade_sets_margin else None

    def model(self):
        """The settings a model trained with these settings records (ModelSettings)."""
        return ModelSettings.from_record(self.record())


@dataclasses.dataclass(frozen=True)
class ModelSettings(_Shape):
    """A model's own settings, as its file records them (Settings.record): the family, the
    image shape, the family's fields (those of other families stay None) and the training
    recipe. The one form in which a loaded model knows its settings."""
    family: str
    target_size: int
    max_intensity: int
    deskew: bool = False                     # files made before the setting: images as they are
    scan: str = "rows"                       # files made before the setting: row by row
    gru_units: int = None
    pixelcnn_filters: int = None
    pixelcnn_blocks: int = None
    pixelcnn_first_kernel: int = 7           # files made before the setting: the walkthrough's 7x7
    shape_size: int = None
    epochs: int = None
    batch_size: int = None
    learning_rate: float = None
    lr_schedule: str = None
    validation_fraction: float = None
    validation_block: int = 1                # files made before the setting: image by image
    clipnorm: float = None
    train_shifts: int = 0
    train_rotations: tuple = ()              # files made before the setting: no rotations
    train_elastic: int = 0                   # files made before the setting: no deformations
    train_objective: str = "augment"         # files made before the setting: one copy drawn per image

    @classmethod
    def from_record(cls, record):
        """From a file's settings record (lists read as tuples); names this version does
        not know are left out."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items() if k in names})


MODEL_FIELDS = ("family", "target_size", "max_intensity", "deskew", "scan")
TRAINING_FIELDS = ("epochs", "batch_size", "learning_rate", "lr_schedule", "validation_fraction", "validation_block",
                   "clipnorm", "train_shifts", "train_rotations", "train_elastic", "train_objective")
OBJECTIVES = ("augment", "latent")
_DERIVED = ("profile", "default_profile", "models_dir", "generated_dir")
UNKNOWN_PROFILE_HINT = "see docs/profiles.md for every profile"


def profile_names():
    """The profiles a user is meant to use (config.profiles) and 'best'; --help lists these."""
    import config
    return [*config.profiles, "best"]


def all_profiles():
    """{name: values} of every profile: config.profiles, then the experiments' (config.experiments)."""
    import config
    return {**config.profiles, **config.experiments}


def settings_for(name=None):
    """The settings of profile `name` (None: the default; "best": config.best_profile):
    config.py's constants with the profile's values over them, and its folders."""
    import config
    name = config.best_profile if name == "best" else (name or config.profile)
    profiles = all_profiles()
    if name not in profiles:
        raise UserError(f"unknown profile {name!r}; {UNKNOWN_PROFILE_HINT}")
    names = [f.name for f in dataclasses.fields(Settings) if f.name not in _DERIVED]
    values = {k: getattr(config, k) for k in names}
    for key, value in profiles[name].items():
        if key not in values:
            raise UserError(f"profile {name!r} sets {key!r}, which config.py does not have")
        values[key] = value
    if values["scan"] not in SCANS:
        raise UserError(f"profile {name!r} sets scan={values['scan']!r}; choose one of {', '.join(SCANS)}")
    if values["scan"] == "subscale" and values["family"] != "gru":
        raise UserError(f"profile {name!r} sets scan='subscale' for the {values['family']} family; "
                        "its convolutions need neighbouring pixels side by side, so only the gru family reads so")
    if (values["family"] == "detail") != bool(values["shape"]):
        raise UserError(f"profile {name!r}: a model of family 'detail' needs a `shape` profile, and a `shape` "
                        f"profile needs this profile's family to be 'detail'")
    if values["shape"] and values["mix"]:
        raise UserError(f"profile {name!r} sets both shape and mix; a detail model has one shape profile")
    if not isinstance(values["validation_block"], int) or values["validation_block"] < 1:
        raise UserError(f"profile {name!r} sets validation_block={values['validation_block']!r}; "
                        "a held-out run is a whole number of images, 1 or more")
    if not isinstance(values["sample_temperature"], (int, float)) or not values["sample_temperature"] > 0:
        raise UserError(f"profile {name!r} sets sample_temperature={values['sample_temperature']!r}; "
                        "a temperature is a number above 0")
    if values["train_objective"] not in OBJECTIVES:
        raise UserError(f"profile {name!r} sets train_objective={values['train_objective']!r}; "
                        f"choose one of {', '.join(OBJECTIVES)}")
    default = name == config.profile
    models = "mnist_models" if default else f"mnist_models_{name}"
    generated = os.path.join(config.root, "generated", *([] if default else [name]))
    return Settings(profile=name, default_profile=config.profile,
                    models_dir=os.path.join(config.root, "trained", models),
                    generated_dir=generated,     # sequences (mix, rotations, strokes) as tuples
                    **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})



def profiles_of_family(family):
    """The names of the profiles whose models are of this family."""
    import config
    return [name for name, values in all_profiles().items() if values.get("family", config.family) == family]
