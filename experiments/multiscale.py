"""A multi-scale likelihood: p(x | k) = p(x10 | k) p(x14 | x10, k), the `shift` profile's
10x10 GRU for the digit's shape times a PixelCNN of the 14x14 image given the 10x10 image
(both made from the same 28x28 image, so the product is a density of the pair), mixed
over the nine 1-pixel shifts like `shift`. A route measured toward 0.994, not a profile:
the conditional PixelCNNs are trained here, one per digit, and kept only in --out.

    python experiments/multiscale.py [--out=DIR] [--epochs=10] [--cache=DIR]

Each digit's model is trained on its training images less the 5% held out (seed 0, as
train_mnist.py splits them), each image under one of the nine 1-pixel shifts drawn anew
each epoch, Adam from 3e-3 on a cosine to 0, gradients clipped to norm 1, the epoch with
the best held-out likelihood kept. Prints held-out and test accuracy of: the `shift`
GRUs alone; the detail term p(x14 | x10, k) alone; their product as the image is and
over the 9 shifts. The GRUs' log-likelihoods come from the cache of experiments/routes.py (--cache).
"""
import argparse
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import evaluation  # noqa: E402
from pixelbayes.families.pixelcnn import masked_conv2d_class  # noqa: E402

LEVELS, COARSE, FINE = 7, 10, 14
NEAREST = np.arange(FINE) * COARSE // FINE          # the coarse pixel under each fine one


def views(images, transforms):
    """(transforms, n, 14, 14) fine levels and (transforms, n, 14, 14) the coarse levels
    under each fine pixel, both from the same transformed 28x28 image."""
    fine = util.preprocess_transformed(images, transforms, FINE, LEVELS - 1)
    coarse = util.preprocess_transformed(images, transforms, COARSE, LEVELS - 1)
    return fine, coarse[:, :, NEAREST][:, :, :, NEAREST]


def conditional_pixelcnn(filters=64, blocks=6, seed=0):
    """The `pixelcnn` network (7x7 mask A, residual blocks of 1x1, 3x3 mask B, 1x1; two
    1x1 heads) on the one-hot 14x14 image, with the one-hot coarse image (seen whole,
    unmasked: it is given) through a 5x5 convolution, added (through a 1x1 each) before
    the first ReLU and in the middle of every block. Output: a softmax over the levels
    at every pixel."""
    keras = util.get_keras()
    keras.utils.set_random_seed(seed)
    L, Masked = keras.layers, masked_conv2d_class()
    x = keras.Input((FINE, FINE, LEVELS), name="fine")
    c = keras.Input((FINE, FINE, LEVELS), name="coarse")
    cond = L.Conv2D(filters, 5, padding="same", activation="relu")(c)
    h = L.ReLU()(L.Add()([Masked(mask_type="A", filters=filters, kernel_size=7, padding="same")(x),
                          L.Conv2D(filters, 1)(cond)]))
    for _ in range(blocks):
        y = L.Conv2D(filters // 2, 1, activation="relu")(h)
        y = L.ReLU()(L.Add()([Masked(mask_type="B", filters=filters // 2, kernel_size=3, padding="same")(y),
                              L.Conv2D(filters // 2, 1)(cond)]))
        h = L.Add()([h, L.Conv2D(filters, 1, activation="relu")(y)])
    for _ in range(2):
        h = Masked(mask_type="B", filters=filters, kernel_size=1, activation="relu")(h)
    return keras.Model([x, c], L.Conv2D(LEVELS, 1, activation="softmax")(h))


def onehot(levels):
    return np.eye(LEVELS, dtype=np.float32)[levels]


def train(digit, images, held, epochs, path, seed=0):
    """Train digit's conditional model on images (shifted anew each epoch), keep the epoch
    with the lowest held-out NLL in path; returns its held-out bits/pixel."""
    keras = util.get_keras()
    transforms = util.latents(1)
    fine, coarse = views(images, transforms)
    hf, hc = views(held, [util.Transform()])
    model = conditional_pixelcnn(seed=seed + digit)
    steps = epochs * math.ceil(len(images) / 64)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps), clipnorm=1.0),
                  "sparse_categorical_crossentropy")
    rng, best = np.random.default_rng(seed + digit), np.inf
    for epoch in range(epochs):
        pick = rng.integers(0, len(transforms), len(images))
        f, c = fine[pick, np.arange(len(images))], coarse[pick, np.arange(len(images))]
        model.fit([onehot(f), onehot(c)], f[..., None], batch_size=64, epochs=1, verbose=0)
        nll = model.evaluate([onehot(hf[0]), onehot(hc[0])], hf[0][..., None], batch_size=500, verbose=0)
        if nll < best:
            best = nll
            model.save(path)
        print(f"digit {digit} epoch {epoch + 1}: held-out {nll / math.log(2):.4f} bits/pixel", flush=True)
    return best / math.log(2)


def detail_log_likelihoods(models, name, images, transforms, out):
    """(transforms, n, 10) log p(x14 | x10, k) per transform, each kept in out."""
    result = []
    for t in transforms:
        path = os.path.join(out, f"detail_{name}_{t.dy}_{t.dx}.npy")
        if not os.path.exists(path):
            fine, coarse = (v[0] for v in views(images, [t]))
            logp = np.zeros((len(images), 10))
            for k, model in enumerate(models):
                p = model.predict([onehot(fine), onehot(coarse)], batch_size=500, verbose=0)
                logp[:, k] = np.log(np.take_along_axis(p, fine[..., None], -1)[..., 0].astype(np.float64)
                                    ).reshape(len(images), -1).sum(1)
            np.save(path, logp)
        result.append(np.load(path))
    return np.stack(result)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="multiscale_models",
                   help="folder for the conditional models and their log-likelihoods (default multiscale_models; "
                        "a rerun reuses what is there)")
    p.add_argument("--cache", default=None, help="the cache folder of experiments/routes.py, for the GRUs' log-likelihoods (default: temporary)")
    p.add_argument("--epochs", type=util.positive_int, default=10, help="training epochs per digit (default 10)")
    args = p.parse_args()
    util.make_folder(args.out)
    args.cache = args.cache or util.make_folder(os.path.join(args.out, "routes_cache"))
    keras, data = util.get_keras(), util.load_mnist()
    (x, y), _ = evaluation.training_split(data)
    held = evaluation.splits(data)["val"]
    for d in range(10):
        path = os.path.join(args.out, f"detail_{d}.keras")
        if not os.path.exists(path):
            start = time.time()
            bpp = train(d, x[y == d], held[0][held[1] == d], args.epochs, path)
            print(f"digit {d}: trained in {time.time() - start:.0f} s, best held-out {bpp:.4f} bits/pixel",
                  flush=True)
    models = [keras.models.load_model(os.path.join(args.out, f"detail_{d}.keras")) for d in range(10)]
    priors, square9 = util.log_priors(data["y_train"]), evaluation.shapes()["square9"]
    for name, (images, labels) in evaluation.splits(data).items():
        coarse = evaluation.log_likelihoods("shift", name, images, square9, args.cache)
        detail = detail_log_likelihoods(models, name, images, square9, args.out)
        centre = util.identity_index(square9)
        rows = {"shift, 9 shifts": util.log_mean_exp(coarse, 0),
                "detail p(x14 | x10, k) alone, 9 shifts": util.log_mean_exp(detail, 0),
                "multiscale, image as it is": coarse[centre] + detail[centre],
                "multiscale, 9 shifts": util.log_mean_exp(coarse + detail, 0)}
        print(f"--- {name}: {len(labels)} images")
        right = {row: util.classify(scores, priors) == labels for row, scores in rows.items()}
        for row, ok in right.items():
            print(f"{row}: {np.mean(ok):.4f}", flush=True)
        was, now = right["shift, 9 shifts"], right["multiscale, 9 shifts"]
        own = rows["detail p(x14 | x10, k) alone, 9 shifts"][np.arange(len(labels)), labels]
        print(f"multiscale, 9 shifts, against shift: {np.sum(~was & now)} of shift's {np.sum(~was)} errors "
              f"corrected, {np.sum(was & ~now)} new; the detail costs {-own.mean() / math.log(2):.1f} bits an "
              f"image under the true digit's model", flush=True)


if __name__ == "__main__":
    util.run_main(main)
