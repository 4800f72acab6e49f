"""Family "pixelcnn": the PixelCNN of van den Oord et al. (2016) as the Keras code
example builds it, with a softmax over the levels at every pixel. Its wiring
(pixelcnn_logits) is written once and runs on keras.ops.conv in training and on a numpy
masked convolution in inference."""
import numpy as np

from .. import backend
from ..backend import get_keras

# The side-by-side training graph: one grouped convolution per layer for all models
# (True), or a convolution per model (False); None: grouped where an NVIDIA GPU is. On
# the CPU the grouped form runs 50x slower (benchmarks/grouped.py); both give each model
# the sums of a model of its own (tests/test_train.py).
GROUPED = None
from ..numerics import log_softmax, map_chunks, with_outliers
from .base import PixelNet


def causal_taps(kernel_size, mask_type):
    """The (row, column) positions of a kernel_size x kernel_size kernel that a PixelCNN
    mask keeps: every row above the centre and, in the centre row, the positions left of
    it, plus the centre itself for type "B" (type "A" hides it: a pixel never sees itself).
    mask_type None: every position."""
    c = kernel_size // 2
    if mask_type is None:
        return list(np.ndindex(kernel_size, kernel_size))
    return [(i, j) for i in range(c + 1) for j in range(kernel_size)
            if i < c or j < c or (j == c and mask_type == "B")]


def causal_mask(kernel_size, mask_type):
    """The mask as a (kernel_size, kernel_size) array of 0 and 1 (mask_type None: all 1)."""
    mask = np.zeros((kernel_size, kernel_size), np.float32)
    for i, j in causal_taps(kernel_size, mask_type):
        mask[i, j] = 1
    return mask


def pixelcnn_layers(filters, blocks, levels, first_kernel=7):
    """The PixelCNN's convolutions in order, (name, kernel size, mask type or None, input
    width, output width); every one but "logits" is followed by a ReLU, and each block's
    output is added to the block's input: a first_kernel x first_kernel mask-A
    convolution (the walkthrough's 7x7), `blocks` residual
    blocks (1x1 halving the width, 3x3 mask B, 1x1 back), two 1x1 mask-B convolutions
    and a 1x1 convolution to one logit per level."""
    half = filters // 2
    layers = [("mask_a", first_kernel, "A", levels, filters)]
    for b in range(blocks):
        layers += [(f"block{b}_in", 1, None, filters, half), (f"block{b}_mask_b", 3, "B", half, half),
                   (f"block{b}_out", 1, None, half, filters)]
    return layers + [("head0", 1, "B", filters, filters), ("head1", 1, "B", filters, filters),
                     ("logits", 1, None, filters, levels)]


def _named(w, layers):
    """{layer name: (kernel, bias, kernel size, mask type)} of weights w in the order of layers."""
    return {name: (w[2 * i], w[2 * i + 1], k, mask) for i, (name, k, mask, _, _) in enumerate(layers)}


def pixelcnn_logits(ops, conv, w, x, layers, given=None):
    """The PixelCNN's wiring: w the weights of layers (pixelcnn_layers: kernel, bias per
    layer), x (B, H, W, levels) one-hot images -> logits (B, H, W, levels), those at a
    pixel computed from the pixels before it. conv(x, kernel, bias, kernel_size, mask_type)
    is the masked convolution (keras.ops.conv in training, numpy_masked_conv in inference).
    given: (B, H, W, filters) features of what the model is given (given_features; the
    conditional PixelCNN of families/detail.py), added through a 1x1 convolution before
    the first ReLU and before the ReLU after each block's masked convolution."""
    convs = _named(w, layers)

    def layer(name, x, relu=True, cond=None):
        y = conv(x, *convs[name])
        if given is not None and cond is not None:
            y = y + conv(given, *convs[cond])
        return ops.relu(y) if relu else y
    x = layer("mask_a", x, cond="given_a")
    for b in range(sum(name.endswith("_in") for name, *_ in layers)):
        x = x + layer(f"block{b}_out", layer(f"block{b}_mask_b", layer(f"block{b}_in", x), cond=f"given_b{b}"))
    return layer("logits", layer("head1", layer("head0", x)), relu=False)


def given_features(ops, conv, w, layers, given):
    """The features of a given image (B, H, W, levels) one-hot, seen whole (no mask): the
    layer "given" and a ReLU."""
    return ops.relu(conv(given, *_named(w, layers)["given"]))


def keras_masked_conv(x, kernel, bias, kernel_size, mask_type):
    """The masked convolution in keras.ops: the kernel times its mask, padded to keep the size."""
    ops = get_keras().ops
    if mask_type is not None and kernel_size > 1:
        kernel = ops.multiply(kernel, causal_mask(kernel_size, mask_type)[:, :, None, None])
    return ops.conv(x, kernel, padding="same") + bias


def grouped_masked_conv(x, kernel, bias, kernel_size, mask_type):
    """G models' masked convolutions as one grouped convolution: x (B, H, W, G * C), kernel
    (G, k, k, C, D), bias (G, D) -> (B, H, W, G * D), whose group g of channels comes from
    group g of the input with model g's kernel only (keras.ops.conv groups the channels
    when the kernel takes fewer than the input has)."""
    ops = get_keras().ops
    groups, k, _, c, d = kernel.shape
    if mask_type is not None and k > 1:
        kernel = ops.multiply(kernel, causal_mask(k, mask_type)[None, :, :, None, None])
    kernel = ops.reshape(ops.transpose(kernel, (1, 2, 3, 0, 4)), (k, k, c, groups * d))
    return ops.conv(x, kernel, padding="same") + ops.reshape(bias, (groups * d,))


def numpy_masked_conv(x, kernel, bias, kernel_size, mask_type):
    """The masked convolution in numpy, padded to keep the size: x (B, H, W, C), kernel
    (k, k, C, D), bias (D,) -> (B, H, W, D). Each position the mask keeps contributes a
    shifted copy of x (zero beyond the image), side by side in one matrix product; the
    masked positions are never read."""
    b, h, w, c = x.shape
    taps = causal_taps(kernel_size, mask_type)
    if kernel_size > 1:
        k = kernel_size // 2
        cols = np.zeros((b, h, w, len(taps), c), np.float32)
        for t, (i, j) in enumerate(taps):               # input (y + i - k, x + j - k)
            y0, y1, x0, x1 = max(k - i, 0), min(h, h + k - i), max(k - j, 0), min(w, w + k - j)
            if y0 < y1 and x0 < x1:                     # else the tap lies wholly beyond the image
                cols[:, y0:y1, x0:x1, t] = x[:, y0 + i - k:y1 + i - k, x0 + j - k:x1 + j - k]
        x = cols
    kept = kernel[tuple(np.array(taps).T)] if kernel_size > 1 else kernel[0, 0]
    y = x.reshape(-1, len(taps) * c) @ kept.reshape(len(taps) * c, -1) + bias
    return y.reshape(b, h, w, kernel.shape[-1])                     # b may be 0


def side_by_side(ops, w, pixels, s, layers, given=None):
    """G PixelCNNs' logits in keras.ops: pixels (B, G, T) -> logits (B, G, T, levels); given
    (B, G, size, size) levels of an image each model is given (None: none; given_features).
    As one grouped convolution per layer (model g: channel group g, its own kernel), or as
    a chain of convolutions per model (see GROUPED)."""
    g, size, c = pixels.shape[1], s.target_size, s.levels
    images = ops.reshape(ops.one_hot(pixels, c), (-1, g, size, size, c))
    given = None if given is None else ops.one_hot(given, c)
    if not (GROUPED if GROUPED is not None else backend.nvidia_gpu()):
        def one(m):
            wm = [v[m] for v in w]
            feats = None if given is None else given_features(ops, keras_masked_conv, wm, layers, given[:, m])
            return ops.reshape(pixelcnn_logits(ops, keras_masked_conv, wm, images[:, m], layers, feats),
                               (-1, s.seq_len, c))
        return ops.stack([one(m) for m in range(g)], axis=1)

    def grouped(x):
        return ops.reshape(ops.transpose(x, (0, 2, 3, 1, 4)), (-1, size, size, g * c))
    feats = None if given is None else given_features(ops, grouped_masked_conv, w, layers, grouped(given))
    logits = pixelcnn_logits(ops, grouped_masked_conv, w, grouped(images), layers, feats)
    logits = ops.transpose(ops.reshape(logits, (-1, size, size, g, c)), (0, 3, 1, 2, 4))
    return ops.reshape(logits, (-1, g, s.seq_len, c))


def _at_pixel(kernel, kernel_size, mask_type):
    """A layer at one pixel: the (row, column) offsets of the inputs its mask keeps, and its
    kernel at those offsets as one matrix (taps x inputs, outputs)."""
    h, taps = kernel_size // 2, causal_taps(kernel_size, mask_type)
    return [(i - h, j - h) for i, j in taps], kernel[tuple(np.array(taps).T)].reshape(-1, kernel.shape[-1])


class _NumpyOps:
    """The one keras.ops function that pixelcnn_logits calls, in numpy."""

    @staticmethod
    def relu(x):
        return np.maximum(x, 0, out=x)


class NumpyPixelCNN(PixelNet):
    """The PixelCNN family's trained model in numpy. Sampling state: the one-hot canvas, the
    inputs of every block's masked convolution so far, and the position t; a step computes
    each layer at t's position alone (a layer's value there reads only positions before t,
    or t itself after a mask B, all computed at earlier steps), so that drawing an image
    costs one pass of the network over it."""

    def __init__(self, weights, settings, meta=None):
        super().__init__(settings, meta)
        self.layers = self.layers_of(settings)
        self.weights = [np.asarray(v, np.float32) for v in weights]
        self.convs = _named(self.weights, self.layers)
        self.at_pixel = {name: _at_pixel(kernel, k, mask) for name, (kernel, _, k, mask) in self.convs.items()}

    @staticmethod
    def layers_of(settings):
        return PixelCNNFamily.layers(settings)

    def logits(self, levels, given=None):
        """levels (n, rows, W) -> logits (n, rows, W, levels) of each pixel given those before
        it (and given: the features of what the model is given, the same rows; pixelcnn_logits)."""
        onehot = np.eye(self.levels, dtype=np.float32)[np.asarray(levels)]
        return pixelcnn_logits(_NumpyOps, numpy_masked_conv, self.weights, onehot, self.layers, given)

    def block_logits(self, levels):
        """The logits of whole images (n, size, size), every pixel at once."""
        return self.logits(levels)

    def start(self, n, given=None):
        """given: the features of what a conditional model is given, (n, size, size, filters)."""
        size = self.target_size
        blocks = [self.convs[name][0].shape[-1] for name, *_ in self.layers if name.endswith("_in")]
        return dict(t=-1, logits=None, given=given, canvas=np.zeros((n, size, size, self.levels), np.float32),
                    inner=[np.zeros((n, size, size, half), np.float32) for half in blocks])

    def step(self, state, pixels):
        t, canvas, inner, given = state["t"] + 1, state["canvas"], state["inner"], state["given"]
        size, n = self.target_size, len(canvas)
        if pixels is not None:
            canvas[np.arange(n), (t - 1) // size, (t - 1) % size, np.asarray(pixels)] = 1
        r, c = divmod(t, size)

        def at(name, x, source=None, relu=True, cond=None):
            """Layer `name` at (r, c): x the input there (1x1), or source the whole input array."""
            offsets, kept = self.at_pixel[name]
            if source is not None:
                x = np.zeros((n, len(offsets), source.shape[-1]), np.float32)
                for i, (dy, dx) in enumerate(offsets):
                    if 0 <= r + dy < size and 0 <= c + dx < size:
                        x[:, i] = source[:, r + dy, c + dx]
                x = x.reshape(n, len(kept))
            y = x @ kept + self.convs[name][1]
            if given is not None and cond is not None:
                y = y + given[:, r, c] @ self.at_pixel[cond][1] + self.convs[cond][1]
            return np.maximum(y, 0) if relu else y
        x = at("mask_a", None, canvas, cond="given_a")
        for b, cache in enumerate(inner):
            cache[:, r, c] = at(f"block{b}_in", x)
            x = x + at(f"block{b}_out", at(f"block{b}_mask_b", None, cache, cond=f"given_b{b}"))
        logits = at("logits", at("head1", at("head0", x)), relu=False)
        return dict(state, t=t, logits=logits)

    def log_probs(self, state):
        return log_softmax(state["logits"].astype(np.float64), axis=1)

    block = 32      # images per pass: their activations stay in a core's cache (this CPU:
                    # 16 s for 10,000 images x 10 models at 32, 27 s at 512)

    def log_likelihoods(self, levels, chunk=512, workers=1, outliers=0.0):
        """One pass of the network per block of images: every pixel's distribution at once.
        Chunks of images go to the worker threads; each runs its chunk block by block.
        outliers: as PixelNet's."""
        flat = self.reading(levels).astype(np.intp)

        def run_block(seq):
            logp = log_softmax(self.block_logits(seq).astype(np.float64), axis=-1)
            picked = np.take_along_axis(logp, seq[..., None], -1)[..., 0].reshape(len(seq), -1)
            return with_outliers(picked, outliers, self.levels).sum(1)
        return map_chunks(lambda seq: map_chunks(run_block, seq, self.block, 1), flat, chunk, workers)


class PixelCNNFamily:
    """Family "pixelcnn": the PixelCNN of van den Oord et al. (2016) as the Keras
    walkthrough builds it (pixelcnn_layers), on one-hot images, with a softmax over the
    levels at every pixel. Its saved form uses MaskedConv2D, a Conv2D whose kernel is
    multiplied by its mask in every call (custom_objects() gives it to Keras for loading)."""
    name = "pixelcnn"
    fields = ("pixelcnn_filters", "pixelcnn_blocks", "pixelcnn_first_kernel")
    Net = NumpyPixelCNN

    @staticmethod
    def layers(s):
        """pixelcnn_layers of settings s."""
        return pixelcnn_layers(s.pixelcnn_filters, s.pixelcnn_blocks, s.levels, s.pixelcnn_first_kernel)

    @staticmethod
    def weight_layout(s):
        return [shape for name, k, mask, cin, cout in PixelCNNFamily.layers(s)
                for shape in (((k, k, cin, cout), "glorot_uniform"), ((cout,), "zeros"))]

    @staticmethod
    def keras_model(s):
        keras = get_keras()
        inputs = x = keras.Input((s.target_size, s.target_size, s.levels), name="onehot_image")
        block_input = None
        for name, k, mask, _, width in PixelCNNFamily.layers(s):
            last = name == "logits"
            kwargs = dict(filters=width, kernel_size=k, padding="same", name=name,
                          activation="softmax" if last else "relu")
            if name.endswith("_in"):
                block_input = x
            x = keras.layers.Conv2D(**kwargs)(x) if mask is None else masked_conv2d_class()(mask_type=mask, **kwargs)(x)
            if name.endswith("_out"):
                x = keras.layers.Add(name=name[:-len("_out")] + "_add")([block_input, x])
        return keras.Model(inputs, x, name="pixelcnn")

    @staticmethod
    def forward(ops, w, pixels, s):
        """The training graph: pixels (B, G, T) -> logits (B, G, T, levels), G models side
        by side (side_by_side)."""
        return side_by_side(ops, w, pixels, s, PixelCNNFamily.layers(s))

    @staticmethod
    def _convs(layers):
        return [l for l in layers if l["class_name"] in ("Conv2D", "MaskedConv2D")]

    @staticmethod
    def accepts(layers):
        convs = PixelCNNFamily._convs(layers)
        if len(convs) < 4 or (len(convs) - 4) % 3:
            return False
        first = convs[0]["config"]
        expected = pixelcnn_layers(first["filters"], (len(convs) - 4) // 3, convs[-1]["config"]["filters"],
                                   first["kernel_size"][0])
        return all(l["config"]["name"] == name and l["config"]["kernel_size"] in ([k, k], (k, k))
                   and l["config"].get("mask_type") == mask and l["config"]["filters"] == cout
                   and l["config"]["activation"] == ("softmax" if name == "logits" else "relu")
                   for l, (name, k, mask, _, cout) in zip(convs, expected))

    @staticmethod
    def file_weights(layers):
        return [key + str(i) for key in PixelCNNFamily.file_keys(layers).values() for i in (0, 1)]

    @staticmethod
    def file_keys(layers):
        """{layer name: where its weights lie in the file}, in the file's layer order: Keras
        names them by class, counted in layer order: conv2d, conv2d_1, ...; masked_conv2d, ..."""
        seen, keys = {}, {}
        for l in PixelCNNFamily._convs(layers):
            base = {"Conv2D": "conv2d", "MaskedConv2D": "masked_conv2d"}[l["class_name"]]
            n = seen[base] = seen.get(base, -1) + 1
            keys[l["config"]["name"]] = f"layers/{base}{f'_{n}' if n else ''}/vars/"
        return keys

    @staticmethod
    def from_keras_model(model, fallback):
        weights = model.get_weights()
        size, _, levels = model.input_shape[1:]
        return weights, dict(fallback.record() if fallback.family == "pixelcnn" else {}, family="pixelcnn",
                             target_size=size, max_intensity=levels - 1, pixelcnn_filters=weights[0].shape[-1],
                             pixelcnn_blocks=(len(weights) // 2 - 4) // 3,
                             pixelcnn_first_kernel=weights[0].shape[0])

    @staticmethod
    def custom_objects():
        """The Keras classes its saved form needs besides Keras' own: MaskedConv2D."""
        return {"gru_mnist>MaskedConv2D": masked_conv2d_class()}


_masked_conv2d = None


def masked_conv2d_class():
    """MaskedConv2D, the Keras layer class of PixelCNN's masked convolution, made once on
    first use (importing util needs no Keras) and registered for serialization as
    "gru_mnist>MaskedConv2D", so a saved model loads wherever util is imported."""
    global _masked_conv2d
    if _masked_conv2d is None:
        keras = get_keras()

        @keras.saving.register_keras_serializable(package="gru_mnist")
        class MaskedConv2D(keras.layers.Conv2D):
            """Conv2D whose kernel is multiplied, in every call, by the fixed causal mask
            of its mask_type ("A" hides the centre pixel and all after it in raster
            order, "B" shows the centre); the mask is rebuilt from mask_type on loading."""

            def __init__(self, mask_type="B", **kwargs):
                super().__init__(**kwargs)
                self.mask_type = mask_type
                self.mask = causal_mask(self.kernel_size[0], mask_type)[:, :, None, None]

            def convolution_op(self, inputs, kernel):
                return super().convolution_op(inputs, keras.ops.multiply(kernel, self.mask))

            def get_config(self):
                return dict(super().get_config(), mask_type=self.mask_type)
        _masked_conv2d = MaskedConv2D
    return _masked_conv2d

