"""The model families, each behind one interface (a class with these members):

    name, fields          its name and the Settings fields its shape reads
    Net                   numpy inference, a PixelNet: start, step, log_probs, log_likelihoods
    weight_layout(s)      (shape, initializer) of each weight, in saved order
    keras_model(s)        the saved form, a plain Keras model
    forward(ops, w, pixels, s)   the training graph in keras.ops, G models side by side
    accepts(layers), file_weights(layers)   reading its .keras file without Keras
    from_keras_model(model, fallback)       weights and settings of a file Keras loaded
    custom_objects()      the Keras classes its saved form needs

A new family is one module here and one line in FAMILIES (tests/test_family.py adds a
toy one through this interface alone).
"""
from .detail import DetailFamily, NumpyDetail, ShapeThenDetail
from .gru import GRUFamily, NumpyGRU
from .pixelcnn import NumpyPixelCNN, PixelCNNFamily

FAMILIES = {"gru": GRUFamily, "pixelcnn": PixelCNNFamily, "detail": DetailFamily}

__all__ = ["FAMILIES", "DetailFamily", "NumpyDetail", "ShapeThenDetail", "GRUFamily", "NumpyGRU", "PixelCNNFamily", "NumpyPixelCNN"]
