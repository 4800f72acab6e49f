"""`no digit`, measured: the share of the 10,000 test digits and of each kind of non-digit
that classification.py --images rejects (default --reject), and how well each score
separates digits from that kind (area under the ROC curve: 1 separates perfectly, 0.5 is
chance, below 0.5 the kind scores higher than digits).

    python benchmarks/novelty.py [--profile=tutorial] [--reject=0.01]

The non-digits are put in MNIST's form as a user's image files are (images.mnist_form),
but for the inverted digits, given as arrays (as image files they would be un-inverted
and read as the digits they are). Scores: log p(x); the ratio against the zlib
background (the second score of `no digit`); and, for comparison, the ratio against a
background of independent pixels (each pixel's own distribution of levels over the
training images), which does not catch blank images.
"""
import argparse
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import util  # noqa: E402
from pixelbayes import images, novelty  # noqa: E402

SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-*/=?!@#%&$<>()[]{}~"


def glyphs():
    """Each letter and symbol drawn with Pillow's own font, dark on white, 64x64."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default(size=44)
    out = []
    for ch in SYMBOLS:
        img = Image.new("L", (64, 64), 255)
        ImageDraw.Draw(img).text((32, 32), ch, fill=0, font=font, anchor="mm")
        out.append(np.asarray(img, np.float64))
    return out


def crops(n, rng, size=64):
    """Random size x size crops of scikit-image's sample pictures, in grey."""
    import skimage.data
    from skimage.color import rgb2gray
    pictures = [getattr(skimage.data, name)() for name in ("camera", "astronaut", "coins", "moon", "page", "text",
                                                           "clock", "coffee", "chelsea", "rocket")]
    pictures = [np.asarray(rgb2gray(p) * 255 if p.ndim == 3 else p, np.float64) for p in pictures]
    out = []
    for i in range(n):
        p = pictures[i % len(pictures)]
        top, left = rng.integers(0, p.shape[0] - size), rng.integers(0, p.shape[1] - size)
        out.append(p[top:top + size, left:left + size])
    return out


def kinds(data, rng):
    """{kind: 28x28 uint8 images}, the non-digits."""
    form = lambda pictures: np.stack([images.mnist_form(p) for p in pictures])  # noqa: E731
    return {
        "uniform noise (64x64 files)": form(rng.integers(0, 256, (200, 64, 64)).astype(np.float64)),
        "uniform noise (28x28 arrays)": rng.integers(0, 256, (200, 28, 28)).astype(np.uint8),
        "blank black": form([np.zeros((64, 64))]),
        "blank white": form([np.full((64, 64), 255.0)]),
        "letters and symbols (font)": form(glyphs()),
        "crops of scikit-image's pictures": form(crops(200, rng)),
        "inverted test digits (arrays)": 255 - data["x_test"][:1000],
    }


def auroc(digits, others):
    """P(a digit scores higher than a non-digit), ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata
    ranks = rankdata(np.concatenate([digits, others]))
    return (ranks[:len(digits)].sum() - len(digits) * (len(digits) + 1) / 2) / (len(digits) * len(others))


def independent_pixels_ratio(loglik, priors, levels, train_levels):
    counts = np.stack([np.bincount(train_levels[:, t], minlength=levels.max(initial=6) + 1) for t in
                       range(train_levels.shape[1])]) + 1.0
    log_p0 = np.log(counts / counts.sum(1, keepdims=True))
    flat = levels.reshape(len(levels), -1)
    return novelty.log_evidence(loglik, priors) - log_p0[np.arange(flat.shape[1]), flat].sum(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="tutorial", help="the generative profile (default tutorial)")
    p.add_argument("--reject", type=util.fraction, default=0.01, help="as classification.py's (default 0.01)")
    args = p.parse_args()
    data = util.load_mnist()
    s = util.settings_for(args.profile)
    models, latents = util.load_models(s), s.test_latents()
    priors = util.log_priors(data["y_train"])
    plain = lambda x: util.classifier_inputs(util.model_view(x, s), models, util.latents(0))[0]  # noqa: E731
    ref = novelty.reference(s, models, latents, data, lambda x: util.mixture_log_likelihoods(models, x, latents, s),
                            plain)
    limits = novelty.thresholds(ref, args.reject)
    train_levels = plain(data["x_train"]).reshape(len(data["x_train"]), -1)

    def scored(x):
        loglik = util.mixture_log_likelihoods(models, x, latents, s)
        values = novelty.scores(loglik, priors, plain(x), ref["floors"])
        values["independent"] = independent_pixels_ratio(loglik, priors, plain(x), train_levels)
        return values, np.array([bool(low) for low in novelty.judged(values, limits, util.has_ink(x))])
    digits, rejected = scored(data["x_test"])
    print(f"profile {s.profile}, --reject={args.reject}: no digit without ink, or below each nearest digit's "
          f"log p(x) ({min(limits['log_px']):.1f} to {max(limits['log_px']):.1f}) or log p(x) - log p_zlib(x) "
          f"({min(limits['log_ratio']):.1f} to {max(limits['log_ratio']):.1f})")
    print(f"{'images':<36}{'n':>6}{'no digit':>10}{'AUROC log p(x)':>16}{'AUROC zlib ratio':>18}"
          f"{'AUROC pixels ratio':>20}")
    print(f"{'test digits':<36}{len(rejected):>6}{rejected.mean():>10.4f}")
    for kind, x in kinds(data, np.random.default_rng(0)).items():
        values, no = scored(x)
        aucs = [auroc(digits[k], values[k]) for k in ("log_px", "log_ratio", "independent")]
        print(f"{kind:<36}{len(x):>6}{no.mean():>10.4f}" + "".join(f"{a:>{w}.4f}" for a, w in zip(aucs, (16, 18, 20))),
              flush=True)


if __name__ == "__main__":
    util.run_main(main)
