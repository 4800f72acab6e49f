"""Speed benchmark: prints ratios, measured in one run on the machine at hand.

    python benchmarks/bench.py [--models_dir=trained/mnist_models] [--quick]

- sampling a 5x5 grid one GRU step per pixel (ours) against re-running the whole
  prefix with predict for every pixel (the tutorial's method, as the baseline);
- classification throughput against the sgemm floor that numpy measures here, and
  against the tutorial's classify (Python-loop preprocessing, float64 one-hot
  sequences, a predict per model, the product of probabilities);
- training throughput: one model at a time with Keras' GRU layer (the tutorial's) against
  ours, one graph that trains one or all ten digits' models side by side;
- what the default's robust reading (the canonical form, an outlier share, strokes evened
  where that leaves an image unexplained) costs its classification, as a ratio;
- the demo page's answer to one drawing (demo.py: the posterior, the verdict, the views)
  and to "complete", against the half second a drawing's update may take;
- the default commands as whole processes, with their peak memory.
"""
import argparse
import dataclasses
import os
import resource
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # as classification.py runs: a BLAS thread per worker
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from pixelbayes import training  # noqa: E402
from pixelbayes.evaluation import best_of, run_process  # noqa: E402
import util  # noqa: E402

S = util.settings_for()      # the default profile's settings: the shipped models' recipe


def sgemm_gflops():
    """The floor's rate: numpy sgemm of the GRU's own shape, (chunk, units) @ (units,
    3 units), on every core at once (one thread per core), in GFLOP/s."""
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(0)
    a = rng.random((S.classify_chunk, S.gru_units), np.float32)
    b = rng.random((S.gru_units, 3 * S.gru_units), np.float32)
    workers, reps = S.classify_workers, 40

    def work(_):
        for _ in range(reps):
            a @ b
    with ThreadPoolExecutor(workers) as pool:
        dt = best_of(lambda: list(pool.map(work, range(workers))))
    return workers * reps * 2 * a.shape[0] * a.shape[1] * b.shape[1] / dt / 1e9


def preprocess(images):
    return util.preprocess(images, S.target_size, S.max_intensity)


def log_likelihoods(net, levels):
    return net.log_likelihoods(levels, S.classify_chunk, S.classify_workers)


def one_hot_sequences(levels):
    """The Keras GRU's inputs (zero start vector, one-hot pixels) and targets (the pixels,
    then an all-zero sentinel)."""
    onehot = np.eye(S.levels, dtype=np.float32)[levels.reshape(len(levels), -1)]
    zero = np.zeros((len(levels), 1, S.levels), np.float32)
    return np.concatenate([zero, onehot], 1), np.concatenate([onehot, zero], 1)


def naive_sample(model, n, rng):
    """The tutorial's sampler, fixed to start from the zero vector: a predict per pixel."""
    c = S.levels
    for _ in range(n):
        seq = np.zeros((1, 1, c), np.float32)
        for _ in range(S.seq_len):
            p = model.predict(seq, verbose=0)[0, -1].astype(np.float64)
            level = rng.choice(c, p=p / p.sum())
            seq = np.concatenate([seq, np.eye(c, dtype=np.float32)[level][None, None]], 1)


def tutorial_classify(models, images):
    """The tutorial's classification: loop preprocessing, float64 inputs, products."""
    from skimage.transform import resize
    from skimage.util import img_as_ubyte
    levels = np.stack([np.round(img_as_ubyte(resize(im, (S.target_size,) * 2)) / (256 / S.max_intensity))
                       for im in images]).astype(int)
    x = np.zeros((len(images), S.seq_len + 1, S.levels))
    for i, lv in enumerate(levels):
        for t, v in enumerate(lv.ravel()):
            x[i, t + 1, v] = 1.0
    probs = []
    for m in models:
        p = m.predict(x, verbose=0)[:, :-1]
        probs.append(np.prod(np.sum(p * x[:, 1:], -1), 1))
    return np.argmax(np.stack(probs, 1), 1)


def training_rates(per_digit, batch_size=32, rounds=3):
    """Training images/s of three graphs on the same images, after a first epoch each
    (graph building): Keras' GRU layer and fit, one model at a time (the tutorial's way);
    ours (training.build_group_model, as train_models runs it) with one model, and with all
    ten digits' models side by side. Epochs of the three alternate, and each keeps its
    fastest, so that a machine whose speed drifts treats them alike."""
    keras = util.get_keras()
    ops = keras.ops
    x1, y1 = one_hot_sequences(per_digit[0])
    single = util.GRUFamily.keras_model(S)
    single.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0), "categorical_crossentropy")
    runs = {"keras": (single, x1, y1, len(per_digit[0]))}
    for groups in (1, 10):
        y = np.stack([lv.reshape(len(lv), -1) for lv in per_digit[:groups]], 1).astype(np.int32)
        model = training.build_group_model(S, groups)
        model.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0),
                      lambda t, logits: ops.sum(training.pixel_nats(logits, t), axis=1))
        runs[groups] = (model, y, y, y.shape[0] * groups)
    best = {}
    for r in range(rounds + 1):
        for name, (model, x, y, n) in runs.items():
            t = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            if r:                                            # round 0 builds the graphs
                best[name] = max(best.get(name, 0), n / (time.perf_counter() - t))
    return best


def bench_sampling(report, models, nets, quick):
    n_grid = S.grid_size ** 2
    ours = best_of(lambda: util.sample(nets[2:3], n_grid, np.random.default_rng(0)))
    n_naive = 1 if quick else 2
    naive = best_of(lambda: naive_sample(models[2], n_naive, np.random.default_rng(0)), repeat=1) * n_grid / n_naive
    report("sampling a 5x5 grid, one step per pixel (s)", f"{ours:.4f}")
    report("sampling a 5x5 grid, predict on the prefix (s)", f"{naive:.1f}", f"(from {n_naive} images)")
    report("  speed-up of stepwise sampling", f"{naive / ours:.0f}x", "(target >= 500x)")


def bench_classification(report, models, nets, data, quick):
    n = 2000 if quick else 10000
    levels = preprocess(data["x_test"][:n])
    t_ours = best_of(lambda: [log_likelihoods(net, levels) for net in nets], repeat=2)
    flops = 10 * n * (S.seq_len + 1) * 2 * S.gru_units * 3 * S.gru_units
    rate = sgemm_gflops()
    floor = flops / rate / 1e9
    report(f"classification, {n} images x 10 models (s)", f"{t_ours:.2f}", f"{n / t_ours:.0f} images/s")
    report("  sgemm floor for the same matrix work (s)", f"{floor:.2f}",
           f"{flops / 1e12:.2f} TFLOP at {rate:.0f} GFLOP/s (numpy, all cores)")
    report("  time / floor", f"{t_ours / floor:.2f}", "(target <= 2)")
    n_tut = 200 if quick else 1000
    t_tut = best_of(lambda: tutorial_classify(models, data["x_test"][:n_tut]), repeat=1)
    t_ours_small = best_of(lambda: [log_likelihoods(net, preprocess(data["x_test"][:n_tut])) for net in nets])
    report(f"tutorial's classify, {n_tut} images (s)", f"{t_tut:.2f}", f"{n_tut / t_tut:.0f} images/s")
    report("  speed-up over the tutorial's classify (same images)", f"{t_tut / t_ours_small:.1f}x", "(target >= 5x)")


def bench_robust(report, data, quick):
    """What the default's robust reading costs (util.Reader: the canonical form, an outlier
    share, the strokes evened for what that leaves unexplained): its classification of the
    same test images against the plain reading's (the ratio)."""
    n = 2000 if quick else 10000
    x, reader = data["x_test"][:n], util.Reader(S, data)
    reader.reading(x[:10])                                # the thresholds, cached beforehand
    plain = dataclasses.replace(S, canonical_form=False, outlier_share=0.0, strokes_fallback=False)
    t_plain = best_of(lambda: util.mixture_log_likelihoods(reader.models, x, plain.test_latents(), plain), repeat=2)
    t_robust = best_of(lambda: reader.reading(x), repeat=2)
    report(f"classification, {n} images, the default's robust reading (s)", f"{t_robust:.2f}",
           f"(plain: {t_plain:.2f} s)")
    report("  robust / plain", f"{t_robust / t_plain:.2f}", "(target <= 1.5)")


def bench_demo(report, data):
    """The demo server's work for one drawing: a test digit as a 280x280 PNG sheet (dark
    ink on white, as the page sends it), read; then completed from its top 4 rows."""
    import io
    from PIL import Image
    sheet = Image.fromarray(255 - data["x_test"][0]).resize((280, 280), Image.BILINEAR)
    body = io.BytesIO()
    sheet.save(body, "PNG")
    demo = util.Demo(util.Reader(S, data), 0.01)
    read = best_of(lambda: demo.read(body.getvalue()), repeat=5)
    done = best_of(lambda: demo.complete(body.getvalue(), 0.4, 4, 3, 0), repeat=3)
    report("demo: one drawing read (s)", f"{read:.3f}", f"{read / 0.5:.2f} of the half second (target <= 1)")
    report("demo: complete, 3 digits x 4 (s)", f"{done:.3f}", f"{done / 0.5:.2f} of the half second")


def bench_training(report, data):
    per_digit = [preprocess(data["x_train"][data["y_train"] == d][:1024]) for d in range(10)]
    rates = training_rates(per_digit)
    report("training, one model at a time, Keras' GRU and fit, batch 32 (the tutorial's) (images/s)",
           f"{rates['keras']:.0f}")
    for groups in (1, 10):
        report(f"training, {groups} model(s) side by side in our graph, batch 32 (images/s)",
               f"{rates[groups]:.0f}", f"{rates[groups] / rates['keras']:.2f}x")


def bench_processes(report, models_dir):
    import tempfile
    md = f"--models_dir={models_dir}"
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak, _ = run_process(["generate_mnist.py", "--digit=2", md, f"--output={tmp}/g.png"])
        report("python generate_mnist.py --digit=2 (s, whole process)", f"{wall:.1f}", "(target < 8 s)")
        wall, peak, out = run_process(["classification.py", "--num_images=10000", md, "--quiet",
                                       f"--confusion_output={tmp}/c.png"])
    report("python classification.py --num_images=10000 (s)", f"{wall:.1f}", "(target < 35 s)")
    report("  its peak memory (MB)", f"{peak:.0f}", "(target < 3000 MB)")
    print(out.splitlines()[0] if out.strip() else out)        # the accuracy line (settings go to stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models_dir", default=S.models_dir, help="trained models (default trained/mnist_models)")
    p.add_argument("--quick", action="store_true", help="smaller baselines and no training or process runs")
    args = p.parse_args()
    keras = util.get_keras()

    def report(name, value, note=""):
        print(f"{name:<58} {value:>12} {note}", flush=True)

    print(f"machine: {os.cpu_count()} cores; keras {keras.__version__}, backend {keras.backend.backend()}")
    paths = [util.model_path(args.models_dir, d) for d in range(10)]
    models = [keras.models.load_model(path, compile=False) for path in paths]
    nets = [util.load_net(path, d) for d, path in enumerate(paths)]
    data = util.load_mnist()
    bench_sampling(report, models, nets, args.quick)
    bench_classification(report, models, nets, data, args.quick)
    bench_robust(report, data, args.quick)
    bench_demo(report, data)
    if not args.quick:
        bench_training(report, data)
        bench_processes(report, args.models_dir)
    print(f"this process's peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    util.run_main(main)
