"""Settings of the suite: flat, commented module-level constants (read, never run).

The defaults are the tutorial's model: 10x10 images, 7 intensity levels, one GRU
layer of 256 units per digit. Changing target_size or max_intensity needs models
trained with the same values; the model files record them and refuse a mismatch.
"""
import os

# --- data and preprocessing ---------------------------------------------------
target_size = 10                    # images are shrunk to target_size x target_size
max_intensity = 6                   # intensities are quantised to levels 0..max_intensity
num_classes = max_intensity + 1     # one-hot width of a pixel (7)
factor = 256 / max_intensity        # uint8 intensity / factor, rounded, is the level

# --- model --------------------------------------------------------------------
gru_units = 256                     # width of the single GRU layer
ensemble = 1                        # models per digit; more than one are an equal mixture

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
seed = 0                            # seeds the split, the initial weights and the shuffling
clipnorm = 1.0                      # each step's gradient is scaled down to this norm at most
                                    # (0: off); stops the rare loss spikes of long runs
train_shifts = 0                    # augmentation: each training image is translated by one of
                                    # the (2s+1)^2 shifts of up to s pixels (at 28x28, before the
                                    # resize), drawn anew every epoch; 0: off

# --- sampling (generate_mnist.py) --------------------------------------------------
grid_size = 5                       # samples per row and column of the grid
tile_size = 32                      # pixels per side of one sample in the grid

# --- classification (classification.py) -------------------------------------------
classify_num_images = 100           # test images classified by default (the tutorial's)
classify_chunk = 512                # sequences run through a model at once (cache-sized)
classify_workers = os.cpu_count() or 1  # threads sharing the chunks (one BLAS thread each)
test_shifts = 0                     # p(x | k) is the equal mixture over the (2s+1)^2 shifts of
                                    # the 28x28 image by up to s pixels (the shift is a latent
                                    # variable: still a generative model); 0: the image as it is

# --- profiles (--profile NAME on every script) -------------------------------------
# A profile overrides some of the constants above. Each starts from this file's own
# values; all but the default keep their models in trained/mnist_models_{name}/ and
# their pictures in generated/{name}/. All stay generative classifiers: one model (or
# one mixture) per digit, Bayes' rule, no test data in training.
profile = "tutorial"                # the default profile
profiles = {
    "tutorial": {},                 # the SPEC model: 10x10, 7 levels, one GRU(256) per digit
    "fast": {"epochs": 5},          # the same model and recipe, 5 epochs: more than the
                                    # tutorial's accuracy in under 15 minutes on 2 CPU cores
    "ensemble": {"ensemble": 2},    # two such models per digit (seeds seed, seed+1), mixed
    "shift": {"train_shifts": 1, "test_shifts": 1},   # trained on images shifted by up to one
                                    # pixel, classified as a mixture over those shifts
}
best_profile = "tutorial"           # the most accurate profile with shipped models

# --- folders (relative to this file, so the scripts run from any directory) -------
root = os.path.dirname(os.path.abspath(__file__))
models_dir = os.path.join(root, "trained", "mnist_models")
generated_dir = os.path.join(root, "generated")
