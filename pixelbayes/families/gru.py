"""Family "gru": one GRU layer over the one-hot pixels, then a dense softmax over the
levels at every step (the tutorial's model). GRUFamily is its Keras side (saved form,
weight layout, training graph), NumpyGRU its numpy inference."""
import numpy as np

from ..backend import get_keras
from ..errors import UserError
from ..numerics import log_softmax, map_chunks, with_outliers
from .base import PixelNet


class NumpyGRU(PixelNet):
    """The GRU family's trained model as numpy arrays: one step per call.

    Keras' GRU (reset_after=True, gates z, r and the candidate n):
        z = sigmoid(x Wz + bz + h Uz + cz),  r = sigmoid(x Wr + br + h Ur + cr)
        n = tanh(x Wn + bn + r * (h Un + cn)),  h' = z * h + (1 - z) * n
    then logits = h' Wd + bd and a softmax. Inputs are one-hot levels, so x W is a
    row lookup; row `levels` is the all-zero start vector.
    """

    def __init__(self, weights, settings, meta=None):
        super().__init__(settings, meta)
        kernel, recurrent, bias, dense_w, dense_b = [np.asarray(w, np.float32) for w in weights]
        bias = bias.reshape(2, -1)
        self.weights = [kernel, recurrent, bias, dense_w, dense_b]     # as saved (weight_layout)
        u = self.units = recurrent.shape[0]
        # Folded for speed: the z and r pre-activations are halved (sigmoid(a) =
        # 0.5 tanh(a / 2) + 0.5) and carry both biases; the candidate's recurrent bias
        # stays apart, as the reset gate multiplies it.
        rows = np.concatenate([kernel, np.zeros((1, kernel.shape[1]), np.float32)]) + bias[0]
        self.rows_zr = np.ascontiguousarray(0.5 * (rows[:, :2 * u] + bias[1, :2 * u]))
        self.rows_n = np.ascontiguousarray(rows[:, 2 * u:])          # (levels + 1, units)
        self.recurrent = np.ascontiguousarray(np.concatenate(
            [0.5 * recurrent[:, :2 * u], recurrent[:, 2 * u:]], 1))
        self.recurrent_bias_n = np.ascontiguousarray(bias[1, 2 * u:])
        self.dense_w, self.dense_b = dense_w, dense_b
        self.start_row = self.levels                   # row of the start vector

    def start(self, n):
        return np.zeros((n, self.units), np.float32)

    def step(self, h, pixels):
        return self._step(h, np.full(len(h), self.start_row) if pixels is None else pixels)

    def _step(self, h, rows):
        """h (n, units), or None for the zero state; rows (n,) levels or start_row -> new h."""
        u = self.units
        if h is None:                                  # zero state: h @ U is 0
            zr = self.rows_zr[rows]
            n = np.broadcast_to(self.recurrent_bias_n, (len(zr), u)).copy()
            h = np.zeros((len(zr), u), np.float32)
        else:
            hp = h @ self.recurrent
            zr = hp[:, :2 * u]
            zr += self.rows_zr[rows]
            n = hp[:, 2 * u:]
            n += self.recurrent_bias_n
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5
        z, r = zr[:, :u], zr[:, u:]
        n *= r
        n += self.rows_n[rows]
        np.tanh(n, out=n)
        h = h - n                                      # h' = n + z * (h - n)
        h *= z
        h += n
        return h

    def log_probs(self, h):
        """log p(next level | state), (n, levels)."""
        return log_softmax(h @ self.dense_w + self.dense_b, axis=1)

    def log_likelihoods(self, levels, chunk=512, workers=1, outliers=0.0):
        """As PixelNet's, faster: chunks on `workers` threads (numpy releases the GIL);
        images that begin alike (most MNIST images start with rows of background) share
        one GRU state until their prefixes part, the same arithmetic done once per
        distinct prefix (about a quarter less work on MNIST); the small output layer's
        logits are kept per step and turned into log-probabilities once at the end."""
        flat = self.reading(levels).reshape(len(levels), -1)
        out = np.zeros(len(flat), np.float64)
        order = np.lexsort(flat.T[::-1]) if len(flat) > 1 else np.arange(len(flat))
        out[order] = map_chunks(lambda seq: self._chunk_log_likelihoods(seq.astype(np.intp), outliers),
                                flat[order], chunk, workers)   # alike images into the same chunks
        return out

    def _chunk_log_likelihoods(self, seq, outliers=0.0):
        n, steps = seq.shape
        logits = np.empty((steps, n, self.levels), np.float32)
        # while prefixes are shared, h has a row per distinct prefix and `prefix` maps
        # each image to its row
        shared, h, rows, prefix = n > 1, None, np.full(1 if n > 1 else n, self.start_row), np.zeros(n, np.intp)
        for t in range(steps):
            h = self._step(h, rows)
            if shared:
                np.take(h @ self.dense_w, prefix, axis=0, out=logits[t])
                if t + 1 < steps:
                    keys, prefix = np.unique(prefix * self.levels + seq[:, t], return_inverse=True)
                    prefix = prefix.reshape(-1)
                    h = h[keys // self.levels]
                    if len(keys) > 0.7 * n:            # little left to share: go per image
                        h, rows, shared = h[prefix], seq[:, t], False
                    else:
                        rows = keys % self.levels
            else:
                np.matmul(h, self.dense_w, out=logits[t])
                rows = seq[:, t]
        logp = log_softmax((logits + self.dense_b).astype(np.float64), axis=-1)
        return with_outliers(np.take_along_axis(logp, seq.T[:, :, None], -1)[..., 0], outliers, self.levels).sum(0)


class GRUFamily:
    """Family "gru": one GRU layer over the one-hot pixels (the all-zero start vector
    first), then a dense softmax over the levels at every step; any sequence length."""
    name = "gru"
    fields = ("gru_units",)               # the Settings fields this family's shape reads
    Net = NumpyGRU

    @staticmethod
    def file_weights(layers):
        """Where keras_model's weights lie in its .keras file, in get_weights() order."""
        return ["layers/gru/cell/vars/0", "layers/gru/cell/vars/1", "layers/gru/cell/vars/2",
                "layers/dense/vars/0", "layers/dense/vars/1"]

    @staticmethod
    def weight_layout(s):
        """(shape, initializer) of each weight, in keras_model(s).get_weights() order:
        input kernel, recurrent kernel, the two biases (input, recurrent), dense, dense bias."""
        c, u = s.levels, s.gru_units
        return [((c, 3 * u), "glorot_uniform"), ((u, 3 * u), "orthogonal"), ((2, 3 * u), "zeros"),
                ((u, c), "glorot_uniform"), ((c,), "zeros")]

    @staticmethod
    def keras_model(s):
        """The saved form: a Keras model that anyone can load and run on one-hot sequences."""
        keras = get_keras()
        return keras.Sequential([
            keras.Input((None, s.levels)),
            keras.layers.GRU(s.gru_units, return_sequences=True, name="gru"),
            keras.layers.Dense(s.levels, activation="softmax", name="pixel_softmax"),
        ], name="pixel_gru")

    @staticmethod
    def forward(ops, w, pixels, s):
        """The training graph: w holds the layout's weights stacked over G models, pixels
        (B, G, T) the levels -> logits (B, G, T, levels) of p(pixel_t | pixels before it),
        each model computed on its own column. The input at step t is pixel t - 1 (the
        all-zero start vector at t = 0). The steps are unrolled."""
        kernel, recurrent, bias, dense, dense_bias = w
        x = ops.concatenate([ops.zeros_like(pixels[..., :1]), pixels[..., :-1] + 1], axis=-1)
        onehot = ops.one_hot(x, s.levels + 1)[..., 1:]                         # (B, G, T, C)
        xw = ops.einsum("bgtc,gcu->tgbu", onehot, kernel) + bias[None, :, None, 0]
        h = ops.zeros((kernel.shape[0], ops.shape(x)[0], s.gru_units))
        hs = []
        for xt in ops.unstack(xw, s.seq_len, axis=0):
            hw = ops.matmul(h, recurrent) + bias[:, None, 1]
            xz, xr, xh = ops.split(xt, 3, axis=-1)
            hz, hr, hh = ops.split(hw, 3, axis=-1)
            z = ops.sigmoid(xz + hz)
            r = ops.sigmoid(xr + hr)
            h = z * h + (1.0 - z) * ops.tanh(xh + r * hh)
            hs.append(h)
        out = ops.stack(hs, axis=2)                                             # (G, B, T, U)
        return ops.einsum("gbtu,guc->bgtc", out, dense) + dense_bias[None, :, None, :]

    @staticmethod
    def accepts(layers):
        """True if a .keras file's layer configs are keras_model's (read without Keras)."""
        layers = [l for l in layers if l["class_name"] != "InputLayer"]
        if [l["class_name"] for l in layers] != ["GRU", "Dense"]:
            return False
        gru, dense = [l["config"] for l in layers]
        return (gru.get("reset_after"), gru.get("activation"), gru.get("recurrent_activation"),
                gru.get("use_bias"), gru.get("return_sequences"), dense.get("activation")) == \
            (True, "tanh", "sigmoid", True, True, "softmax")

    @staticmethod
    def from_keras_model(model, fallback):
        """(weights, settings record) of another Keras GRU model, e.g. the tutorial's .h5;
        what the file cannot tell (the image size) comes from `fallback` settings."""
        gru = next(l for l in model.layers if l.__class__.__name__ == "GRU")
        dense = next(l for l in model.layers if l.__class__.__name__ in ("Dense", "TimeDistributed"))
        if getattr(gru, "reset_after", True) is not True:
            raise UserError("only GRU layers with reset_after=True are supported")
        weights = gru.get_weights() + dense.get_weights()
        return weights, dict(fallback.record() if fallback.family == "gru" else {}, family="gru",
                             target_size=fallback.target_size, max_intensity=weights[0].shape[0] - 1,
                             gru_units=weights[1].shape[0])

    @staticmethod
    def custom_objects():
        """The Keras classes its saved form needs besides Keras' own: none."""
        return {}

