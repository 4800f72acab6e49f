"""Classification through the Keras backend, for an accelerator: each family's training
graph (forward: every conditional of an image at once), with the trained nets' weights,
compiled by the backend (predict: tf.function, jax.jit or torch), batched over images,
latent transforms and models. It computes what the numpy nets compute, to float32
accuracy (tests/test_engine.py); the numpy path stays the CPU's default, being faster
there.

Engines: "numpy" (the nets, on the host), "keras" (this), "auto": keras where an NVIDIA
GPU is present (a device node, looked up without importing any backend), else numpy."""
import math

import numpy as np

from . import backend
from .backend import get_keras
from .families import FAMILIES, ShapeThenDetail
from .families.detail import shape_of

ENGINES = ("auto", "numpy", "keras")


def resolve(engine):
    """The engine "auto" stands for here: keras with an NVIDIA GPU, else numpy."""
    if engine != "auto":
        return engine
    return "keras" if backend.nvidia_gpu() else "numpy"


def likelihood_model(nets, outliers=0.0):
    """A Keras model: pixels (batch, steps) int32 -> log p(image) under each net (batch,
    len(nets)), the nets (one family, one shape) side by side in their family's graph; each
    pixel's distribution mixed with a uniform share `outliers` (numerics.with_outliers)."""
    keras = get_keras()
    s, family = nets[0].settings, FAMILIES[nets[0].settings.family]
    stacked = [np.stack([np.asarray(net.weights[i], np.float32) for net in nets]) for i in range(len(nets[0].weights))]

    class Likelihoods(keras.layers.Layer):
        def build(self, input_shape):
            self.stack = [self.add_weight(shape=w.shape, initializer="zeros", trainable=False, name=f"w{i}")
                          for i, w in enumerate(stacked)]
            for var, value in zip(self.stack, stacked):
                var.assign(value)

        def call(self, pixels):
            ops = keras.ops
            x = ops.repeat(ops.expand_dims(pixels, 1), len(nets), axis=1)            # (B, G, T)
            logp = ops.log_softmax(family.forward(ops, [v.value for v in self.stack], x, s), axis=-1)
            picked = ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(x, -1), axis=-1), -1)
            if outliers:
                picked = ops.logaddexp(picked + math.log1p(-outliers), math.log(outliers / s.levels))
            return ops.sum(picked, axis=-1)                                               # (B, G)

    inputs = keras.Input((s.seq_len,), dtype="int32")
    return keras.Model(inputs, Likelihoods(name="likelihoods")(inputs))


def log_likelihoods(nets, levels, batch_size=512, outliers=0.0):
    """log p(x) in nats of each image of levels (n, size, size) under each net: (n, len(nets)),
    the nets of one family, shape and scan (outliers: likelihood_model's)."""
    if len({net.settings.scan for net in nets}) > 1:
        raise ValueError("nets that read in different orders take separate calls (mixture_log_likelihoods groups them)")
    flat = nets[0].reading(levels).reshape(len(levels), -1).astype(np.int32)
    if len(flat) == 0:
        return np.zeros((0, len(nets)))
    model = likelihood_model(nets, outliers)
    return np.asarray(model.predict(flat, batch_size=batch_size, verbose=0), np.float64)


def mixture_log_likelihoods(models, copies, batch_size=512, outliers=0.0):
    """As inference.mixture_log_likelihoods, through Keras: models[d] the nets of digit d,
    copies (transforms, n, size, size) -> log p(x | d) (n, digits), each digit the equal
    mixture over its nets and the copies. Nets of one family and shape share one graph."""
    from .numerics import log_mean_exp
    nets = [(d, net) for d, members in enumerate(models) for net in members]
    flat = copies.reshape(-1, *copies.shape[2:])
    shapes = {}                              # the images' shapes, made once per shape size
    groups, inputs = {}, {}                  # each net's terms: itself, or its shape and its detail
    for i, (_, net) in enumerate(nets):
        parts = [(net, flat)]
        if isinstance(net, ShapeThenDetail):
            size = net.detail.shape_size
            if size not in shapes:
                shapes[size] = shape_of(flat, size)
            parts = [(net.shape, shapes[size]), (net.detail, flat)]
        for part, levels in parts:
            key = (part.settings, levels.shape)                     # ModelSettings: frozen, hashable
            inputs.setdefault(key, levels)
            groups.setdefault(key, {}).setdefault(id(part), (part, []))[1].append(i)   # a shared detail: once
    terms = [np.zeros(copies.shape[:2]) for _ in nets]          # each (transforms, n)
    for key, parts in groups.items():
        out = log_likelihoods([p for p, _ in parts.values()], inputs[key], batch_size, outliers)
        for j, (_, owners) in enumerate(parts.values()):
            for i in owners:
                terms[i] += out[:, j].reshape(copies.shape[:2])
    per_digit = [np.concatenate([terms[i] for i, (d, _) in enumerate(nets) if d == digit]) for digit in range(len(models))]
    return np.stack([t[0] if len(t) == 1 else log_mean_exp(t, axis=0) for t in per_digit], 1)
