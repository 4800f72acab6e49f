"""Do the samples look like the digit asked for? Each profile draws --per_digit samples of
every digit (generate_mnist.py's sampler, --seed, the profile's own temperature unless
--temperature names one), and the robustness benchmark's CNN, trained in the same run on
the 60,000 clean training images (3 epochs, pixelbayes.evaluation.small_cnn), reads them:
the share it calls the digit asked for (500 samples: one standard error near 0.9 is 0.013).
Samples smaller than 28x28 are resized to 28x28 for it (skimage, anti-aliased). Then each
profile's likelihood of the test images in bits per dimension of its own image.

    python benchmarks/recognised.py [--profiles=pixelcnn28,pixelcnn28_plain,shift] [--per_digit=500]

Bits per dimension: -log2 p(x) / pixels, p(x) = sum_k p(k) p(x | k) (the training labels'
shares), each test image as it is (no shifts), at the profile's size and levels: the
28x28 profiles' x are the 7 levels round(6 v / 256) of each pixel's value v (0..255).
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
from pixelbayes.evaluation import train_cnn  # noqa: E402
from pixelbayes.preprocess import levels_to_uint8  # noqa: E402


def as_28(levels, max_intensity):
    """Samples (n, size, size) in levels -> uint8 28x28 images, as the CNN reads MNIST."""
    images = levels_to_uint8(levels, max_intensity)
    if images.shape[-1] == 28:
        return images
    from skimage.transform import resize
    big = resize(images.astype(np.float64) / 255, (len(images), 28, 28), anti_aliasing=True)
    return np.round(np.clip(big, 0, 1) * 255).astype(np.uint8)


def bits_per_dimension(models, settings, data, num_images):
    """Mean -log2 p(x) per pixel of the first num_images test images, each as it is."""
    x = data["x_test"][:num_images]
    loglik = util.mixture_log_likelihoods(models, x, util.latents(0), settings)
    evidence = np.logaddexp.reduce(loglik + util.log_priors(data["y_train"])[None, :], axis=1)
    return float(-evidence.mean() / math.log(2) / models[0][0].seq_len)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="pixelcnn28,pixelcnn28_plain,shift",
                   help="profiles whose samples are read, comma-separated (default pixelcnn28,pixelcnn28_plain,shift)")
    p.add_argument("--per_digit", type=util.positive_int, default=500, help="samples of each digit (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the samples (default 0)")
    p.add_argument("--temperature", type=util.positive_float, default=None,
                   help="sampling temperature of every profile (default: each profile's own, as generate_mnist.py)")
    p.add_argument("--num_images", type=int, default=10000,
                   help="test images for the bits per dimension; 0 skips them (default 10000)")
    args = p.parse_args()
    names = [n.strip() for n in args.profiles.split(",") if n.strip()]
    settings = [util.settings_for(n) for n in names]          # unknown names fail before any work
    data = util.load_mnist()
    start = time.time()
    cnn = train_cnn(data["x_train"], data["y_train"])
    print(f"CNN trained in {time.time() - start:.0f} s on the 60,000 clean training images", file=sys.stderr)
    shares, sizes, bpd, temperatures = {}, {}, {}, {}
    for name, s in zip(names, settings):
        models = util.load_models(s)
        net = models[0][0]
        rng, start = np.random.default_rng(args.seed), time.time()
        temperatures[name] = args.temperature or s.sample_temperature
        samples = [util.sample(members, args.per_digit, rng, temperatures[name]) for members in models]
        seconds = time.time() - start
        read = [cnn(as_28(levels, net.levels - 1)).argmax(1) for levels in samples]
        shares[name] = [float(np.mean(r == d)) for d, r in enumerate(read)]
        sizes[name] = net.target_size
        print(f"{name}: {10 * args.per_digit} samples in {seconds:.1f} s", file=sys.stderr)
        if args.num_images > 0:
            bpd[name] = bits_per_dimension(models, s, data, args.num_images)
    print(f"share of {args.per_digit} samples per digit (seed {args.seed}) that the CNN reads as the digit asked for\n")
    print("| digit | " + " | ".join(f"{n} ({sizes[n]}x{sizes[n]}, T {temperatures[n]:g})" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for d in range(10):
        print(f"| {d} | " + " | ".join(f"{shares[n][d]:.3f}" for n in names) + " |")
    print("| lowest | " + " | ".join(f"**{min(shares[n]):.3f}**" for n in names) + " |")
    print("| mean | " + " | ".join(f"{np.mean(shares[n]):.3f}" for n in names) + " |")
    if bpd:
        print(f"\nbits per dimension of the first {args.num_images} test images, as they are: "
              + ", ".join(f"{n} {v:.4f} ({sizes[n]}x{sizes[n]})" for n, v in bpd.items()))


if __name__ == "__main__":
    util.run_main(main)
