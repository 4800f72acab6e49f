"""Settings of the suite: flat, commented module-level constants (read, never run).

Nothing here is changed at run time: each script turns these constants, a profile and
its flags into one settings value (util.settings_for, util.Settings) and passes that
value down. The defaults are the tutorial's model: 10x10 images, 7 intensity levels,
one GRU layer of 256 units per digit. Model files record the settings they were
trained with; sampling and classification take the image shape from the files.
"""
import os

# --- data and preprocessing ---------------------------------------------------
target_size = 10                    # images are shrunk to target_size x target_size
max_intensity = 6                   # intensities are quantised to levels 0..max_intensity
deskew = False                      # each 28x28 image first sheared upright (its slant, from its
                                    # moments, taken out), in training and classification alike
scan = "rows"                       # the order in which a model reads the image's pixels: "rows"
                                    # (the tutorial's, row by row) or "columns" (column by column:
                                    # the image transposed in training, classification and
                                    # sampling; a density of the same image, so sets of any
                                    # order mix); "rows_reversed", "columns_reversed": the same
                                    # backwards, from the bottom right pixel; "subscale" (gru
                                    # only): the four interleaved half-resolution slices one after
                                    # the other, pixels (2i, 2j) first, each slice row by row

# --- model --------------------------------------------------------------------
family = "gru"                      # model family (util.FAMILIES): "gru", one GRU layer, or
                                    # "pixelcnn", a PixelCNN of masked convolutions
gru_units = 256                     # width of the GRU layer
pixelcnn_filters = 64               # PixelCNN: width of its convolutions (the blocks' middle:
                                    # half); the walkthrough's 128 (at 28x28) classifies 10x10
                                    # images about 1.7x slower than a GRU(256) on this CPU
pixelcnn_blocks = 6                 # PixelCNN: residual blocks (1x1, 3x3 mask B, 1x1)
pixelcnn_first_kernel = 7           # PixelCNN: side of the first, mask-A convolution (the
                                    # walkthrough's 7; 2 * target_size - 1 sees every pixel before)
ensemble = 1                        # models per digit (seeds seed, seed+1, ...); more than
                                    # one are an equal mixture
mix = ()                            # names of other profiles whose models form, together,
                                    # each digit's equal mixture (empty: this profile's own)
shape = None                        # a profile whose models give each digit's shape, p(s(x) | k);
                                    # this profile's one model (family "detail", all digits'
                                    # images) then gives the image given its shape, p(x | s(x));
                                    # their product is p(x | k) (families/detail.py); None: off
shape_size = 10                     # family "detail": side of the shape s(x) it is given (the
                                    # shape profile's target_size, and its levels)
detail_per_digit = False            # family "detail": one detail model per digit, p(x | s(x), k),
                                    # each trained on its digit's images (model_0..9), instead of one
                                    # for every digit (model_all)

# --- training (train_mnist.py) ----------------------------------------------------
# The tutorial trained 12 epochs at batch 32 with a constant Adam rate of 1e-3
# (--epochs=12 --batch_size=32 --learning_rate=0.001 --lr_schedule=constant
# --validation_fraction=0 --clipnorm=0 reproduces it). Our default, which made the
# shipped models, uses a higher rate decayed to 0 by a cosine, clips the gradient and
# keeps the epoch with the best held-out likelihood: as long, and more accurate.
epochs = 12                         # passes over a digit's training images (over the mean
                                    # count: train_mnist.py trains the digits side by side)
batch_size = 32                     # sequences per gradient step
learning_rate = 5e-3                # Adam's peak learning rate
lr_schedule = "cosine"              # "cosine" (decay to 0 over the run) or "constant"
validation_fraction = 0.05          # share of the digit's training images held out
validation_block = 1                # the held-out share is drawn in runs of this many
                                    # consecutive images of the digit (the training file's
                                    # order); 1: image by image. The file keeps similar
                                    # digits (likely one writer's) near each other, so runs of
                                    # 200 hold out images whose look-alikes training saw less
                                    # (README: Which held-out images tell the test set's story)
seed = 0                            # seeds the split, the initial weights and the shuffling
clipnorm = 1.0                      # each step's gradient is scaled down to this norm at most
                                    # (0: off); stops the rare loss spikes of long runs
train_shifts = 0                    # augmentation: each training image is translated by one of
                                    # the (2s+1)^2 shifts of up to s pixels (at 28x28, before the
                                    # resize), drawn anew every epoch; 0: off
train_rotations = ()                # augmentation, a second latent: each shift also rotated by
                                    # these angles (degrees, besides 0), one of all the
                                    # combinations drawn per image and epoch; (): off
train_elastic = 0                   # augmentation: besides each image as it is, this many elastic
                                    # deformations of it (each image its own, fixed fields), one
                                    # of all the combinations drawn per image and epoch; 0: off
train_objective = "augment"         # "augment": each image in one of those transforms, drawn anew
                                    # every epoch (the loss: -log p of that copy); "latent": each
                                    # image in all of them, the loss -log of the mean of their
                                    # likelihoods (the classifier's own mixture, trained as such)
init_profile = None                 # a profile whose trained models start this one's (the same
                                    # network; train_mnist.py --init_models names another
                                    # folder); None: each model from its seed's random weights

# --- sampling (generate_mnist.py) --------------------------------------------------
grid_size = 5                       # samples per row and column of the grid
tile_size = 32                      # pixels per side of one sample in the grid
sample_temperature = 1.0            # the temperature a profile draws at unless told (--temperature):
                                    # 1.0 samples the model exactly, lower draws its likelier images

# --- classification (classification.py) -------------------------------------------
classify_num_images = 100           # test images classified by default (the tutorial's)
classify_chunk = 512                # sequences run through a model at once (cache-sized)
classify_workers = os.cpu_count() or 1  # threads sharing the chunks (one BLAS thread each)
classify_engine = "auto"            # "numpy" (the CPU's fastest), "keras" (the backend's compiled
                                    # graph: for a GPU), "auto" (keras where an NVIDIA GPU is)
classify_batch = 1024               # images per call of the keras engine
cascade_margin = 30.0               # with a mixture over latents: the whole mixture only for the
                                    # digits whose score on the image as it is lies within this
                                    # many nats of the best (the others keep a lower bound); 0:
                                    # the exact mixture for every digit (--exact); chosen on
                                    # held-out images, where 30 changes no answer of the exact one
cascade_sets_margin = 0.0           # with a mixture of profiles (mix): 0 runs every profile's nets
                                    # at each step of the cascade; > 0 runs the first profile's
                                    # alone through it, and the others' (every transform) only for
                                    # the digits whose first-profile mixture (plus log p(k)) lies
                                    # within this many nats of the best
canonical_form = False              # each 28x28 image first put in the canonical form
                                    # (pixelbayes/canonical.py): ink, brighter or darker than its
                                    # paper, as light ink on black paper, specks removed; the same
                                    # for MNIST's arrays, a user's arrays and a user's files
outlier_share = 0.0                 # each pixel's p(level | pixels before) mixed with this uniform
                                    # share: log((1 - s) p + s / levels), so that no pixel costs a
                                    # digit more than log(levels / s) nats (a robust likelihood);
                                    # 0: the model's own
robust_fallback = False             # the canonical form and the outlier share only for the images
                                    # that the models do not explain as they are: `no digit`, at
                                    # the held-out share fallback_share, under the plain reading
                                    # (novelty.py); the others read as they are
fallback_share = 0.01               # that share of held-out training digits (half on each score)
even_strokes = False                # the canonical form also brings strokes much thinner or
                                    # thicker than MNIST's towards its widths (canonical.even_strokes)
strokes_fallback = False            # the images that the profile's own reading still finds
                                    # unexplained read once more with even_strokes (as above)
test_shifts = 0                     # p(x | k) is the equal mixture over the (2s+1)^2 shifts of
                                    # the 28x28 image by up to s pixels (the shift is a latent
                                    # variable: still a generative model); 0: the image as it is
test_rotations = ()                 # a second latent: rotations of the 28x28 image (degrees,
                                    # besides 0) in the mixture, each with every shift
test_strokes = ()                   # a third: strokes made thinner (-1) or thicker (1) by a 2x2
                                    # grey erosion or dilation, each with every shift and rotation
test_scales = ()                    # another: the 28x28 image scaled about its centre by these
                                    # factors (besides 1), each with every shift and rotation

# --- profiles (--profile NAME on every script) -------------------------------------
# A profile overrides some of the constants above. Each starts from this file's own
# values; all but the default keep their models in trained/mnist_models_{name}/ and
# their pictures in generated/{name}/. All stay generative classifiers: one model (or
# one mixture) per digit, Bayes' rule, no test data in training. Figures: docs/profiles.md.
profile = "tutorial"                # the default profile
profiles = {                        # the profiles to use; --help lists these
    "tutorial": {"canonical_form": True, "outlier_share": 0.1, "strokes_fallback": True},
                                    # the tutorial's model: 10x10, 7 levels, one GRU(256) per digit;
                                    # read in the canonical form with an outlier share, what that
                                    # leaves unexplained with its strokes evened (chosen on held-out
                                    # images: docs/journal.md)
    "fast": {"epochs": 5},          # the same model and recipe, 5 epochs
    "shift": {"train_shifts": 1, "test_shifts": 1},   # trained on images shifted by up to
                                    # one pixel, classified as a mixture over those 9 shifts
    "shift_xlong_orders": {"mix": ("shift_xlong_columns", "shift_xlong", "shift_xlong_rows_reversed"),
                           "test_shifts": 1, "cascade_margin": 20.0, "cascade_sets_margin": 15.0,
                           "canonical_form": True, "outlier_share": 0.1, "robust_fallback": True,
                           "strokes_fallback": True},
                                    # "best": three sets of the shift recipe over 80 epochs, reading
                                    # by columns, by rows and by rows backwards, each over the 9
                                    # shifts (27 terms per digit); its cascade runs the columns
                                    # models first, then the others for the digits in contention;
                                    # an image they do not explain as it is, read again robustly,
                                    # and if still unexplained, with its strokes evened
    "pixelcnn": {"family": "pixelcnn", "train_shifts": 1, "epochs": 20, "learning_rate": 3e-3},
                                    # the second family: a PixelCNN per digit on the same 10x10
                                    # inputs, trained on shifted images, classified without shifts
    "pixelcnn28": {"family": "detail", "shape": "shift_xlong_orders", "detail_per_digit": True, "target_size": 28,
                   "train_shifts": 1, "test_shifts": 1, "cascade_margin": 20.0, "cascade_sets_margin": 15.0,
                   "pixelcnn_filters": 64, "pixelcnn_blocks": 4, "epochs": 2, "batch_size": 64,
                   "learning_rate": 1e-3, "init_profile": "pixelcnn28_shared", "sample_temperature": 0.9},
                                    # the Keras walkthrough's resolution, 28x28 and 7 levels, drawn as
                                    # the shape, then the detail: `best`'s three GRUs of the digit for
                                    # the 10x10 shape (a sample comes from one of them) times the
                                    # digit's PixelCNN (64 filters, 4 blocks) of the 28x28 image given
                                    # that shape, each `pixelcnn28_shared`'s trained 2 more epochs on
                                    # its digit's images; classified over the 9 shifts with `best`'s
                                    # cascade, drawn at temperature 0.9 (docs/families.md)
}
best_profile = "shift_xlong_orders" # --profile=best: the most accurate on held-out training images

experiments = {                     # the profiles of docs/journal.md's experiments: each
                                    # entry says what it asked and found; those without a
                                    # models folder in trained/ retrain with train_mnist.py
    "best_robust": {"mix": ("shift_xlong_columns", "shift_xlong", "shift_xlong_rows_reversed"),
                    "test_shifts": 1, "cascade_margin": 20.0, "cascade_sets_margin": 15.0,
                    "canonical_form": True, "outlier_share": 0.1},
                                    # best read in the canonical form with an outlier share: far
                                    # more robust, 16 more errors on its 10,002 held-out images
    "ensemble": {"ensemble": 2},    # two tutorial models per digit (seeds seed, seed+1), mixed
    "mix": {"mix": ("tutorial", "shift"), "test_shifts": 1},   # the tutorial's and the shift
                                    # models, each over the 9 shifts: 18 terms per digit
    "families": {"mix": ("shift", "pixelcnn"), "test_shifts": 1},   # the shift GRUs and the
                                    # PixelCNNs, each over the 9 shifts: 18 terms per digit
    "rotate": {"mix": ("shift",), "test_shifts": 1, "test_rotations": (-10, 10)},   # the shift
                                    # models, the 9 shifts each also rotated by 10 degrees either way
    "strokes": {"mix": ("shift",), "test_shifts": 1, "test_strokes": (-1, 1)},   # the same with
                                    # strokes thinner and thicker instead
    "scales": {"mix": ("shift",), "test_shifts": 1, "test_scales": (0.9, 1.1)},   # the same with
                                    # the image scaled by 0.9 and 1.1 instead
    "pixelcnn28_plain": {"family": "pixelcnn", "target_size": 28, "train_shifts": 1, "epochs": 6,
                         "learning_rate": 3e-3},
                                    # the walkthrough's own 28x28 model: a PixelCNN (64 filters, 6
                                    # blocks) per digit on the whole image (`pixelcnn28` until
                                    # 2026-12-06); it draws strokes more than digits
    "pixelcnn28_shared": {"family": "detail", "shape": "shift_xlong_orders", "target_size": 28, "train_shifts": 1,
                          "test_shifts": 1, "cascade_margin": 20.0, "cascade_sets_margin": 15.0,
                          "pixelcnn_filters": 64, "pixelcnn_blocks": 4, "epochs": 8, "batch_size": 64,
                          "learning_rate": 3e-3},
                                    # `pixelcnn28` with one detail model for all digits, p(x | s(x))
                                    # (`pixelcnn28` until its per-digit models, which start from
                                    # this one): its 8s are 8s less often (docs/families.md)
    "pixelcnn_wide": {"family": "pixelcnn", "pixelcnn_first_kernel": 19, "train_shifts": 1, "epochs": 20,
                      "learning_rate": 3e-3},
                                    # "pixelcnn" with a 19x19 first convolution: no blind spot at 10x10
    "pixelcnn14": {"family": "pixelcnn", "target_size": 14, "train_shifts": 1, "epochs": 20,
                   "learning_rate": 3e-3},
                                    # "pixelcnn" on 14x14 images
    "pixelcnn_rotate": {"family": "pixelcnn", "train_shifts": 1, "train_rotations": (-10, 10), "epochs": 20,
                        "learning_rate": 3e-3, "test_shifts": 1, "test_rotations": (-10, 10)},
                                    # "pixelcnn" trained and classified over 9 shifts x rotations
                                    # of 0 and +-10 degrees (27 transforms)
    "pixelcnn_elastic": {"family": "pixelcnn", "train_shifts": 1, "train_elastic": 2, "epochs": 20,
                         "learning_rate": 3e-3, "test_shifts": 1},
                                    # "pixelcnn" trained on 9 shifts x (as it is, 2 elastic
                                    # deformations), classified over the 9 shifts
    "shift_long": {"train_shifts": 1, "test_shifts": 1, "epochs": 40},
                                    # the shift recipe over 40 epochs (the cosine over all 40)
    "pixelcnn_long": {"family": "pixelcnn", "train_shifts": 1, "test_shifts": 1, "epochs": 40,
                      "learning_rate": 3e-3},
                                    # the "pixelcnn" recipe over 40 epochs, over the 9 shifts
    "shift_wide": {"gru_units": 512, "train_shifts": 1, "test_shifts": 1},
                                    # the shift recipe with a GRU of 512 units
    "shift2_long": {"train_shifts": 2, "test_shifts": 1, "epochs": 40},
                                    # shift_long trained on the 25 shifts of up to 2 pixels
    "shift_deskew": {"deskew": True, "train_shifts": 1, "test_shifts": 1},
                                    # the shift profile on deskewed images (each 28x28 image
                                    # sheared upright first: preprocess.deskew_images)
    "shift_columns": {"scan": "columns", "train_shifts": 1, "test_shifts": 1},
                                    # the shift profile reading each image column by column
    "shift_long_columns": {"scan": "columns", "train_shifts": 1, "test_shifts": 1, "epochs": 40},
    "shift_long_rows_reversed": {"scan": "rows_reversed", "train_shifts": 1, "test_shifts": 1,
                                 "epochs": 40},
    "shift_long_columns_reversed": {"scan": "columns_reversed", "train_shifts": 1, "test_shifts": 1,
                                    "epochs": 40},
    "shift_long_subscale": {"scan": "subscale", "train_shifts": 1, "test_shifts": 1, "epochs": 40},
                                    # shift_long in the other orders: by columns, backwards,
                                    # and slice by slice (a coarse copy of the digit first)
    "shift_xlong": {"train_shifts": 1, "test_shifts": 1, "epochs": 80, "validation_fraction": 0.1667},
    "shift_xlong_columns": {"scan": "columns", "train_shifts": 1, "test_shifts": 1, "epochs": 80,
                            "validation_fraction": 0.1667},
    "shift_xlong_rows_reversed": {"scan": "rows_reversed", "train_shifts": 1, "test_shifts": 1,
                                  "epochs": 80, "validation_fraction": 0.1667},
    "shift_xlong_columns_reversed": {"scan": "columns_reversed", "train_shifts": 1, "test_shifts": 1,
                                     "epochs": 80, "validation_fraction": 0.1667},
                                    # the shift recipe over 80 epochs in each raster order, 1/6
                                    # of each digit's images held out; the first three are best's
    "shift_latent": {"train_shifts": 1, "test_shifts": 1, "epochs": 3, "learning_rate": 1e-3,
                     "train_objective": "latent", "init_profile": "shift_long"},
                                    # shift_long's models trained 3 epochs more on the mixture's
                                    # own density (each image in all 9 shifts)
    "shift_long_more": {"train_shifts": 1, "test_shifts": 1, "epochs": 3, "learning_rate": 1e-3,
                        "init_profile": "shift_long"},
                                    # its control: the same 3 epochs with the usual objective
    "shift_long_orders": {"mix": ("shift_long", "shift_long_columns"), "test_shifts": 1,
                          "cascade_margin": 15.0, "cascade_sets_margin": 10.0},
                                    # shift_long and shift_long_columns, each over the 9 shifts
}

# --- folders ------------------------------------------------------------------------
root = os.path.dirname(os.path.abspath(__file__))  # trained/ and generated/ lie here
