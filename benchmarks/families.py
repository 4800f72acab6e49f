"""The two model families side by side on the same inputs (10x10 images, 7 levels): the
README's comparison table, measured in one run on the machine at hand.

    python benchmarks/families.py [--profiles=shift,pixelcnn] [--output=generated/families.png]

For each profile's shipped models: accuracy on the 10,000 test images (each model once
per image, no shifts) and each digit's mean bits/pixel under its own model; training
images/s of ten models side by side on the same images (epochs of the two families
alternate, each keeps its fastest); the training time recorded in the files; a 5x5
grid's sampling time; classification of 10,000 images by 10 models; parameters and file
sizes; then the whole processes generate_mnist.py --digit=2 and classification.py
--num_images=10000. The picture has a row of samples of each digit per profile.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as classification.py runs: a BLAS thread per worker
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import util  # noqa: E402
from pixelbayes.evaluation import best_of, run_process, training_rates  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="shift,pixelcnn", help="profiles to compare (default shift,pixelcnn)")
    p.add_argument("--output", default=os.path.join(os.path.dirname(HERE), "generated", "families.png"),
                   help="PNG with a row of samples of each digit per profile (default generated/families.png)")
    args = p.parse_args()
    profiles = args.profiles.split(",")
    settings = [util.settings_for(name) for name in profiles]
    data = util.load_mnist()
    priors = util.log_priors(data["y_train"])
    rows = {}

    def report(name, values):
        rows[name] = values
        print(f"{name:<44} " + " ".join(f"{v:>14}" for v in values), flush=True)

    print(f"{'':<44} " + " ".join(f"{name:>14}" for name in profiles))
    report("family", [s.family for s in settings])
    models = [util.load_models(s) for s in settings]
    nets = [[m[0] for m in ms] for ms in models]
    labels = data["y_test"]
    lls, seconds = [], []
    for s, ns in zip(settings, nets):
        levels = util.preprocess(data["x_test"], ns[0].target_size, ns[0].levels - 1)
        t = time.perf_counter()
        lls.append(np.stack([net.log_likelihoods(levels, s.classify_chunk, s.classify_workers) for net in ns], 1))
        seconds.append(time.perf_counter() - t)
    report("accuracy, 10,000 test images, no shifts", [f"{np.mean(util.classify(ll, priors) == labels):.4f}"
                                                       for ll in lls])
    own = [-ll[np.arange(len(labels)), labels] / 100 / np.log(2) for ll in lls]
    report("test bits/pixel under the true digit's model", [f"{o.mean():.4f}" for o in own])
    for d in range(10):
        report(f"  digit {d}", [f"{o[labels == d].mean():.4f}" for o in own])
    report("classification, 10,000 images x 10 models (s)", [f"{t:.1f}" for t in seconds])
    grid = [best_of(lambda: util.sample(ns[2:3], 25, np.random.default_rng(0))) for ns in nets]
    report("sampling a 5x5 grid (s)", [f"{t:.2f}" for t in grid])
    report("parameters per digit", [f"{sum(w.size for w in util.FAMILIES[s.family].keras_model(s).get_weights()):,}"
                                    for s in settings])
    report("model files, ten digits (MB)", [f"{sum(os.path.getsize(util.model_path(s.models_dir, d)) for d in range(10)) / 1e6:.1f}"
                                            for s in settings])
    report("training time recorded in the files (s)", [f"{ns[0].meta.get('train_seconds', float('nan')):.0f}"
                                                       for ns in nets])
    report("epochs, best epoch of digit 0", [f"{s.epochs}, {ns[0].meta.get('best_epoch')}" for s, ns in zip(settings, nets)])
    per_digit = [util.preprocess(data["x_train"][data["y_train"] == d][:512], 10, 6) for d in range(10)]
    report("training, 10 models side by side (images/s)", [f"{r:.0f}" for r in training_rates(settings, per_digit)])
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        walls = [run_process(["generate_mnist.py", "--digit=2", f"--profile={n}", f"--output={tmp}/g.png"])[0]
                 for n in profiles]
        report("python generate_mnist.py --digit=2 (s, whole)", [f"{w:.1f}" for w in walls])
        walls = [run_process(["classification.py", "--num_images=10000", f"--profile={n}", "--test_shifts=0",
                              "--quiet", f"--confusion_output={tmp}/c.png"])[0] for n in profiles]
        report("python classification.py --num_images=10000", [f"{w:.1f}" for w in walls])
    rng = np.random.default_rng(0)
    samples = np.concatenate([np.concatenate([util.sample([ns[d]], 1, rng) for d in range(10)]) for ns in nets])
    util.save_png(util.tile_grid(samples, len(nets), 10, 32, nets[0][0].levels - 1), args.output)
    print(f"samples, a row per profile ({', '.join(profiles)}): {args.output}")


if __name__ == "__main__":
    util.run_main(main)
