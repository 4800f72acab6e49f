"""Family "detail": a PixelCNN of the whole image given its shape, p(x | s(x)), where the
shape s(x) is a fixed function of the image: x shrunk to shape_size x shape_size by
integer weights (skimage's anti-aliased resize, to the hundredth) and rounded to the same
levels. The profile that uses it (config.py: `shape`) multiplies it by a digit's model of
the shape, p(x | k) = p(s(x) | k) p(x | s(x)): s(x) is a function of x, so the product is
the likelihood of the image x itself, and sampling draws the shape, then the detail.

The shape image, nearest-upsampled to the image's size and one-hot, is seen whole (it is
given) through a 5x5 convolution; its features enter the PixelCNN (pixelcnn_logits) before
the first ReLU and in the middle of every block. One model for every digit: the shape
says which digit it is; the detail only draws it finely (docs/journal.md, 2026-12-06)."""
import functools

import numpy as np

from ..backend import get_keras
from ..errors import UserError
from .pixelcnn import (NumpyPixelCNN, PixelCNNFamily, _NumpyOps, given_features, masked_conv2d_class,
                       numpy_masked_conv, pixelcnn_layers, side_by_side)

GIVEN_KERNEL = 5                    # side of the convolution that reads the shape image


@functools.lru_cache(maxsize=None)
def shape_weights(size, shape_size):
    """(shape_size, size) integers: the weight of each image row (column) in each shape row
    (column), skimage's anti-aliased resize of a column of ones, times 100, rounded (the
    products then stay exact integers in float32 as well as in numpy)."""
    from skimage.transform import resize
    columns = np.zeros((size, size, size))
    for j in range(size):
        columns[j, :, j] = 1.0
    linear = resize(columns, (size, shape_size, shape_size), anti_aliasing=True)[:, 0, :].T
    return np.round(linear * 100).astype(np.int64)


def nearest(size, shape_size):
    """The shape pixel under each image pixel, per axis (nearest upsampling)."""
    return np.arange(size) * shape_size // size


def shape_of(levels, shape_size):
    """The shape of images: levels (..., size, size) -> (..., shape_size, shape_size),
    each shape pixel the weighted mean of the image's levels (shape_weights), rounded half up
    (exact integer arithmetic: (2 S + d) // (2 d), d the shape pixel's total weight)."""
    levels = np.asarray(levels)
    r = shape_weights(levels.shape[-1], shape_size)
    s = np.einsum("ij,...jk,lk->...il", r, levels.astype(np.int64), r)
    d = np.outer(r.sum(1), r.sum(1))
    return ((2 * s + d) // (2 * d)).astype(np.uint8)


def shape_of_ops(ops, pixels, s):
    """shape_of in keras.ops, upsampled back: pixels (B, G, size * size) -> (B, G, size, size)
    int32, each pixel its shape pixel's level. Products and sums of small integers in
    float32, without a matrix product (a GPU's tensor cores would round them)."""
    size, small = s.target_size, s.shape_size
    r = shape_weights(size, small).astype(np.float32)
    x = ops.reshape(ops.cast(pixels, "float32"), (-1, pixels.shape[1], size, 1, size, 1))
    rows = ops.sum(x * r.T[:, :, None, None], axis=2)                   # (B, G, small, size, 1)
    sums = ops.sum(rows * r.T[None, :, :], axis=3)                      # (B, G, small, small)
    d = np.outer(r.sum(1), r.sum(1)).astype(np.float32)
    shape = ops.floor((2 * sums + d) / (2 * d))
    up = nearest(size, small)
    return ops.cast(ops.take(ops.take(shape, up, axis=2), up, axis=3), "int32")


def detail_layers(s):
    """pixelcnn_layers with the layers of the given shape: "given" (GIVEN_KERNEL square,
    unmasked, levels -> filters) first, "given_a" (1x1 into the first layer) after
    "mask_a", "given_b{b}" (1x1 into block b's middle) after its masked convolution: the
    order of the saved form's layers (its graph's), which its weights follow."""
    return _ordered(pixelcnn_layers(s.pixelcnn_filters, s.pixelcnn_blocks, s.levels, s.pixelcnn_first_kernel),
                    GIVEN_KERNEL)


def _ordered(layers, given_kernel):
    """The PixelCNN's layers with the given shape's layers in their places (detail_layers)."""
    f, levels = layers[0][4], layers[-1][4]
    out = [("given", given_kernel, None, levels, f)]
    for layer in layers:
        out.append(layer)
        name = layer[0]
        if name == "mask_a":
            out.append(("given_a", 1, None, f, f))
        elif name.endswith("_mask_b"):
            out.append((f"given_b{name[len('block'):-len('_mask_b')]}", 1, None, f, f // 2))
    return out


class NumpyDetail(NumpyPixelCNN):
    """The detail model in numpy: NumpyPixelCNN with the features of the given shape."""

    layers_of = staticmethod(detail_layers)

    def __init__(self, weights, settings, meta=None):
        super().__init__(weights, settings, meta)
        self.shape_size = settings.shape_size

    def features(self, shape):
        """Shapes (n, shape_size, shape_size) -> their features (n, size, size, filters)."""
        up = nearest(self.target_size, self.shape_size)
        onehot = np.eye(self.levels, dtype=np.float32)[np.asarray(shape)[:, up][:, :, up]]
        return given_features(_NumpyOps, numpy_masked_conv, self.weights, self.layers, onehot)

    def block_logits(self, levels):
        return self.logits(levels, self.features(shape_of(levels, self.shape_size)))

    def start(self, n, shape=None):
        """shape: (n, shape_size, shape_size), the shapes to draw the detail of."""
        if shape is None:
            raise ValueError("the detail model draws the detail of a shape: start(n, shape)")
        return super().start(n, self.features(shape))


class DetailFamily(PixelCNNFamily):
    """Family "detail" (this module's docstring). Its saved form: a Keras model of two
    inputs, the one-hot image and the one-hot shape upsampled to the image's size."""
    name = "detail"
    fields = PixelCNNFamily.fields + ("shape_size",)
    Net = NumpyDetail

    @staticmethod
    def layers(s):
        return detail_layers(s)

    @staticmethod
    def weight_layout(s):
        return [shape for name, k, mask, cin, cout in detail_layers(s)
                for shape in (((k, k, cin, cout), "glorot_uniform"), ((cout,), "zeros"))]

    @staticmethod
    def keras_model(s):
        keras = get_keras()
        L, Masked = keras.layers, masked_conv2d_class()
        convs = {name: (k, mask, cout) for name, k, mask, _, cout in detail_layers(s)}

        def conv(name, x, activation="relu"):
            k, mask, width = convs[name]
            kwargs = dict(filters=width, kernel_size=k, padding="same", name=name, activation=activation)
            return (L.Conv2D(**kwargs) if mask is None else Masked(mask_type=mask, **kwargs))(x)
        image = keras.Input((s.target_size, s.target_size, s.levels), name="onehot_image")
        shape = keras.Input((s.target_size, s.target_size, s.levels), name="onehot_shape")
        given = conv("given", shape)
        x = L.ReLU()(L.Add()([conv("mask_a", image, None), conv("given_a", given, None)]))
        for b in range(s.pixelcnn_blocks):
            y = conv(f"block{b}_in", x)
            y = L.ReLU()(L.Add()([conv(f"block{b}_mask_b", y, None), conv(f"given_b{b}", given, None)]))
            x = L.Add(name=f"block{b}_add")([x, conv(f"block{b}_out", y)])
        x = conv("logits", conv("head1", conv("head0", x)), "softmax")
        model = keras.Model([image, shape], x, name="detail")
        if [layer.name for layer in model.layers if layer.weights] != [name for name, *_ in detail_layers(s)]:
            raise RuntimeError("this Keras orders the detail model's layers otherwise; detail_layers must follow it")
        return model

    @staticmethod
    def forward(ops, w, pixels, s):
        """The training graph: pixels (B, G, T) -> logits (B, G, T, levels), each model given
        the shape of its image (shape_of_ops), computed in the graph."""
        return side_by_side(ops, w, pixels, s, detail_layers(s), shape_of_ops(ops, pixels, s))

    @staticmethod
    def accepts(layers):
        convs = {l["config"]["name"]: l["config"] for l in PixelCNNFamily._convs(layers)}
        if not {"given", "mask_a", "logits"} <= set(convs):
            return False
        expected = _layers_of(layers)
        return set(convs) == {name for name, *_ in expected} and all(
            convs[name]["kernel_size"] in ([k, k], (k, k)) and convs[name].get("mask_type") == mask
            and convs[name]["filters"] == cout for name, k, mask, _, cout in expected)

    @staticmethod
    def file_weights(layers):
        """The file's weights (PixelCNNFamily.file_keys), in detail_layers' order."""
        keys = PixelCNNFamily.file_keys(layers)
        return [keys[name] + str(i) for name, *_ in _layers_of(layers) for i in (0, 1)]

    @staticmethod
    def from_keras_model(model, fallback):
        if fallback.family != "detail":
            raise UserError("a detail model's file must record its settings")
        named = {layer.name: layer for layer in model.layers}
        return [w for name, *_ in detail_layers(fallback) for w in named[name].get_weights()], fallback.record()


def _layers_of(layers):
    """detail_layers of a file's layers (its config's), as many blocks as it holds."""
    convs = {l["config"]["name"]: l["config"] for l in PixelCNNFamily._convs(layers)}
    blocks = sum(name.endswith("_in") for name in convs)
    first, levels = convs["mask_a"], convs["logits"]["filters"]
    return _ordered(pixelcnn_layers(first["filters"], blocks, levels, first["kernel_size"][0]),
                    convs["given"]["kernel_size"][0])


class ShapeThenDetail:
    """One digit's model of the whole image: its shape model p(s(x) | k) (a net of another
    profile, at shape_size) times the detail model p(x | s(x)) (shared by the digits).
    Reads and draws like a net: log_likelihoods of images, sampling through inference.sample."""

    def __init__(self, shape, detail):
        if (shape.target_size, shape.levels) != (detail.shape_size, detail.levels) or shape.settings.deskew:
            raise UserError(f"the detail model takes {detail.shape_size}x{detail.shape_size} shapes of "
                            f"{detail.levels} levels; the shape models read {shape.target_size}x{shape.target_size} "
                            f"of {shape.levels}{', deskewed' if shape.settings.deskew else ''}")
        self.shape, self.detail = shape, detail
        self.settings, self.meta = detail.settings, detail.meta
        self.target_size, self.levels, self.seq_len = detail.target_size, detail.levels, detail.seq_len

    def reading(self, levels, back=False):
        return self.detail.reading(levels, back)

    def log_likelihoods(self, levels, chunk=512, workers=1, outliers=0.0):
        """log p(s(x) | k) + log p(x | s(x)) in nats for images (n, size, size)."""
        small = shape_of(levels, self.detail.shape_size)
        return self.shape.log_likelihoods(small, chunk, workers, outliers) + self.detail_terms(levels, chunk, workers,
                                                                                               outliers)

    MEMO = 1 << 18          # images whose detail term is kept (each digit's model reads the same)

    def detail_terms(self, levels, chunk, workers, outliers):
        """log p(x | s(x)) of images, each computed once for all the digits (the detail model
        is theirs in common): kept by the image's levels, the last MEMO images."""
        import hashlib
        levels = np.ascontiguousarray(levels, np.uint8)
        memo = self.detail.__dict__.setdefault("memo", {})
        keys = [(hashlib.blake2b(row.tobytes(), digest_size=16).digest(), outliers) for row in levels]
        todo = [i for i, key in enumerate(keys) if key not in memo]
        if todo:
            for i, value in zip(todo, self.detail.log_likelihoods(levels[todo], chunk, workers, outliers)):
                memo[keys[i]] = value
            for key in list(memo)[:max(len(memo) - self.MEMO, 0)]:
                del memo[key]
        return np.array([memo[key] for key in keys], np.float64)

    def given_shape(self, levels, known):
        """A completion's (levels, known) of the image -> those of its shape: a shape pixel
        is known where every image pixel it weighs is."""
        r = shape_weights(self.target_size, self.detail.shape_size) > 0
        whole = np.einsum("ij,njk,lk->nil", r.astype(int), (~np.asarray(known, bool)).astype(int), r.astype(int)) == 0
        return shape_of(levels, self.detail.shape_size), whole

