"""The front door of the suite: the names the scripts use, from the package pixelbayes.

The pipeline, module by module (each is documented in pixelbayes/__init__.py):

    settings    -> cli      one frozen Settings per run, the flags, the settings line
    data        -> preprocess   MNIST; 28x28 -> levels; the latent transforms
    families    (gru, pixelcnn) the model families behind one interface
    modelfiles  -> training     files that carry their settings; side-by-side training
    jobs                    which models a training command trains, on which images
    splits                  the held-out share of each digit
    inference   -> report       sampling, Bayes' rule; grids, pictures, the report
    reader      -> server       a user's images: posterior and `no digit`; the demo page

Importing it does no work: keras and scikit-image load inside the functions that need them.
"""
from pixelbayes import backend as _backend
from pixelbayes.cli import (CLASSIFIER_FLAGS, add_bool_flag, add_classifier_flags, angles, devices_arg, digit_arg,  # noqa: F401
                            fraction, models_dir_flag, non_negative_float, output_path, parse_flags, port_number, positive_float, positive_int,
                            print_settings, run_main, scales_arg, shift_radius, str2bool, strokes_arg, without_profile)
from pixelbayes.data import load_mnist  # noqa: F401
from pixelbayes.engine import ENGINES  # noqa: F401
from pixelbayes.errors import UserError  # noqa: F401
from pixelbayes.families import FAMILIES, GRUFamily, NumpyGRU, NumpyPixelCNN, PixelCNNFamily  # noqa: F401
from pixelbayes.files import make_folder  # noqa: F401
from pixelbayes.jobs import training_jobs  # noqa: F401
from pixelbayes.images import read_images  # noqa: F401
from pixelbayes.inference import (classifier_inputs, classify, confusion_matrix,  # noqa: F401
                                  digit_log_likelihoods, in_contention, log_priors, mixture_log_likelihoods, model_view,
                                  posteriors, progress_iter, sample)
from pixelbayes.modelfiles import load_models, load_net, model_path, read_meta, save_model, starting_point  # noqa: F401
from pixelbayes.canonical import canonical, has_ink  # noqa: F401
from pixelbayes.reader import Reader  # noqa: F401
from pixelbayes.server import Demo, make_server, serve  # noqa: F401
from pixelbayes.numerics import bits_per_pixel, log_mean_exp, log_softmax  # noqa: F401
from pixelbayes.preprocess import (Transform, deskew_images, identity_index, latents, preprocess,  # noqa: F401
                                   preprocess_transformed)
from pixelbayes.report import (classification_report, format_report, nll_table,  # noqa: F401
                               preprocessed_grid, save_confusion_png, save_learning_curve, save_png, tile_grid)
from pixelbayes.settings import MODEL_FIELDS, TRAINING_FIELDS, ModelSettings, Settings, settings_for  # noqa: F401
from pixelbayes.splits import digit_split, recorded_split, split_validation  # noqa: F401
from pixelbayes.training import finished_with, train_models, use_devices  # noqa: F401


def get_keras():
    """Keras, imported once and quietly, with every family's custom layers registered, so
    that keras.models.load_model reads any of the suite's model files after this call."""
    keras = _backend.get_keras()
    for family in FAMILIES.values():
        family.custom_objects()
    return keras
