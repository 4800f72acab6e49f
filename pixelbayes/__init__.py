"""pixelbayes: one autoregressive pixel model per MNIST digit, sampled, and used as a
classifier with Bayes' rule. The modules, in the order the data flows:

    settings     one frozen value per run (Settings) from config.py and a profile;
                 a loaded model's own settings (ModelSettings)
    cli          the scripts' flags, the settings line, one-line errors
    files        atomic writes
    data         MNIST: a local file, the verified cache, or a package index
    preprocess   28x28 (deskewed where a model says so) -> target_size x target_size
                 levels; the latent transforms (shifts, rotations, scales, elastic
                 deformations, strokes) of the 28x28 image
    numerics     log_softmax, log_mean_exp, bits: written once
    backend      Keras, imported once and quietly
    families     the model families behind one interface (gru, pixelcnn, detail)
    modelfiles   saving and loading the .keras files that carry their settings
    splits       the held-out share of each digit's training images, drawn once
    training     the side-by-side training graph, epochs, checkpoints, export
    jobs         which models a training command trains, each on which images
    inference    sampling and Bayes' rule
    report       grids, pictures and the printed report

Importing the package does no work: keras and scikit-image are imported inside the
functions that need them. util.py, beside the scripts, re-exports the public names.
"""
