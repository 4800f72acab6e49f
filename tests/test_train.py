import dataclasses
import json
import os
import signal
import time

import numpy as np
import pytest

import train_mnist
import util
from conftest import small as small_at_10, small_config, synthetic_mnist, train_one

# Training here runs on 6x6 images: the GRU's graph unrolls one step per pixel, and
# building it for 36 steps instead of 100 takes a third of the time. What these tests
# check (the loss, the split, side by side against alone, stopping and resuming, the
# record in the file) does not depend on the image size.
SIZE = 6


def small(**changes):
    return small_at_10(**dict(dict(target_size=SIZE), **changes))


def two_class_levels(n, seed):
    """Toy problem at SIZE x SIZE: class 0 is bright on the left half, class 1 on the right."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, (2, n, 28, 28))
    images[0, :, 4:24, 3:13] += 220
    images[1, :, 4:24, 15:25] += 220
    return [util.preprocess(np.clip(im, 0, 255).astype(np.uint8), SIZE, 6) for im in images]


def test_toy_two_class_problem_is_classified_correctly(tmp_path):
    train, test = two_class_levels(60, 0), two_class_levels(40, 1)
    nets = []
    for k in range(2):
        path = str(tmp_path / f"model_{k}.keras")
        meta = train_one(train[k], path, k, small(epochs=6, batch_size=16, gru_units=24,
                                                  validation_fraction=0.1), verbose=0)
        assert meta["best_epoch"] is not None and len(meta["history"]) == 6
        nets.append(util.load_net(path, digit=k))
    levels = np.concatenate(test)
    labels = np.repeat([0, 1], 40)
    loglik = np.stack([net.log_likelihoods(levels) for net in nets], 1)
    assert np.mean(util.classify(loglik) == labels) >= 0.95
    # each model explains its own class better than the other class does
    assert loglik[labels == 0, 0].mean() > loglik[labels == 0, 1].mean()
    assert loglik[labels == 1, 1].mean() > loglik[labels == 1, 0].mean()


def test_training_reduces_the_loss(tmp_path):
    levels = two_class_levels(40, 2)[0]
    meta = train_one(levels, str(tmp_path / "model_0.keras"), 0, small(epochs=4), verbose=0)
    losses = [h["bits_per_pixel"] for h in meta["history"]]
    assert losses[-1] < losses[0] and meta["best_epoch"] == 4


def curve(meta):
    """A run's losses, epoch by epoch: training, then held-out (when there was any)."""
    return [h["bits_per_pixel"] for h in meta["history"]] + [h["val_bits_per_pixel"] or 0 for h in meta["history"]]


def weights(path):
    return util.get_keras().models.load_model(path, compile=False).get_weights()


@pytest.mark.parametrize("family,grouped", [("gru", None), ("pixelcnn", False), ("pixelcnn", True)])
def test_models_trained_side_by_side_equal_models_trained_alone(tmp_path, monkeypatch, family, grouped):
    """Same images, seeds and settings: training two models in one graph (the GRUs each on
    its own column, the PixelCNNs as one grouped convolution per layer) gives each the
    weights it gets when trained alone (to float rounding)."""
    from pixelbayes.families import pixelcnn
    monkeypatch.setattr(pixelcnn, "GROUPED", grouped)
    levels = two_class_levels(24, 6)
    s = small(clipnorm=0.5, validation_fraction=0.25, family=family, pixelcnn_filters=8, pixelcnn_blocks=1)
    jobs = [dict(levels=levels[k], path=str(tmp_path / f"model_{k}.keras"), digit=k, seed=k + 3)
            for k in range(2)]
    together = util.train_models(jobs, s, verbose=0)
    nets = [weights(job["path"]) for job in jobs]
    for k, job in enumerate(jobs):
        alone_path = str(tmp_path / f"alone_{k}.keras")
        alone = train_one(job["levels"], alone_path, k, s, seed=job["seed"], verbose=0)
        assert curve(alone) == pytest.approx(curve(together[k]), rel=1e-4)
        for w_alone, w_together in zip(weights(alone_path), nets[k]):
            np.testing.assert_allclose(w_alone, w_together, atol=1e-5)
    assert together[0]["seed"] == 3 and together[1]["trained_alongside"] == 2
    assert not np.allclose(nets[0][0], nets[1][0])


def test_augmented_training_takes_shifted_copies_and_holds_out_the_unshifted(tmp_path, monkeypatch):
    """With train_shifts=1 each job holds 9 copies of its images; every step takes one
    copy per image, drawn anew each epoch, and held-out images are the unshifted copy."""
    images = np.clip(np.random.default_rng(0).integers(0, 255, (12, 28, 28)), 0, 255).astype(np.uint8)
    # 10x10 here: a copy is known by its pixels, and at 6x6 the noise averages out until some copies coincide
    copies = util.preprocess_transformed(images, util.latents(1), 10, 6)
    assert copies.shape == (9, 12, 10, 10) and np.array_equal(copies[4], util.preprocess(images, 10, 6))
    flat = copies.reshape(9, 12, 100)
    assert all(len({row.tobytes() for row in flat[:, i]}) == 9 for i in range(12))
    s = small(train_shifts=1, epochs=2, validation_fraction=0.25, batch_size=4, target_size=10)
    seen = []
    real_fit = util.get_keras().Model.fit

    def spy(self, x, y, **kw):
        seen.append(np.asarray(y)[:, 0].copy())
        return real_fit(self, x, y, **kw)
    monkeypatch.setattr(util.get_keras().Model, "fit", spy)
    meta = train_one(copies, str(tmp_path / "model_0.keras"), 0, s, verbose=0)
    which = [[next(c for c in range(9) for i in range(12) if np.array_equal(row, flat[c, i])) for row in rows]
             for rows in seen]
    assert len(set(sum(which, []))) > 3                  # many shifts used, not only the centre
    assert which[0] != which[1]                          # drawn anew each epoch
    assert meta["settings"]["train_shifts"] == 1
    with pytest.raises(ValueError, match="one copy of its images per shift"):
        train_one(copies[:1], str(tmp_path / "model_1.keras"), 1, s, verbose=0)


def test_rotations_in_training_are_recorded_and_resumed(tmp_path):
    """train_rotations: one copy per shift and rotation (27 for shifts 1 and rotations
    -10, 10); the file records them, --resume continues a stopped run with them (the
    record, read back from JSON, matches), and a model trained with other rotations or
    none is not taken as finished."""
    images = np.clip(np.random.default_rng(1).integers(0, 255, (10, 28, 28)), 0, 255).astype(np.uint8)
    s = small(train_shifts=1, train_rotations=(-10, 10), epochs=2, gru_units=8)
    copies = util.preprocess_transformed(images, s.train_latents(), SIZE, 6)
    assert copies.shape[0] == 27 and not np.array_equal(copies[1], copies[0])    # rotated, not shifted
    path = str(tmp_path / "model_0.keras")
    with pytest.raises(ValueError, match="rotation of train_rotations"):
        train_one(copies[:9], path, 0, s, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train_one(copies, path, 0, s, verbose=0, after_epoch=stop_after(1, []))
    seen = []
    meta = train_one(copies, path, 0, s, resume=True, verbose=0, after_epoch=stop_after(99, seen))
    assert seen == [2] and meta["settings"]["train_rotations"] == [-10, 10]
    job = dict(seed=0, train_images=10)
    assert util.finished_with(path, s, job)
    for other in [(), (-5, 5)]:
        assert not util.finished_with(path, dataclasses.replace(s, train_rotations=other), job)


def test_elastic_copies_in_training_are_recorded(tmp_path):
    """train_elastic: one copy per shift and deformation (2 for no shifts and 1 deformation);
    the file records it, and a model trained with another number is not taken as finished."""
    images = np.clip(np.random.default_rng(2).integers(0, 255, (10, 28, 28)), 0, 255).astype(np.uint8)
    s = small(train_elastic=1, epochs=1, gru_units=8)
    copies = util.preprocess_transformed(images, s.train_latents(), SIZE, 6)
    assert copies.shape[0] == 2 and not np.array_equal(copies[1], copies[0])
    path = str(tmp_path / "model_0.keras")
    with pytest.raises(ValueError, match="elastic copy of train_elastic=1"):
        train_one(copies[:1], path, 0, s, verbose=0)
    assert train_one(copies, path, 0, s, verbose=0)["settings"]["train_elastic"] == 1
    job = dict(seed=0, train_images=10)
    assert util.finished_with(path, s, job)
    for other in (0, 2):
        assert not util.finished_with(path, dataclasses.replace(s, train_elastic=other), job)


def stop_after(stop_epoch, seen):
    """after_epoch hook that records epochs and simulates Ctrl-C after stop_epoch."""
    def hook(epoch):
        seen.append(epoch)
        if epoch == stop_epoch:
            raise KeyboardInterrupt
    return hook


def test_interrupted_training_keeps_the_old_model_and_resumes(tmp_path):
    levels = two_class_levels(20, 3)[0]
    path = str(tmp_path / "model_0.keras")
    s = small(epochs=4, learning_rate=5e-3, validation_fraction=0.2)
    train_one(levels, path, 0, small(epochs=1), verbose=0)
    old = open(path, "rb").read()
    with pytest.raises(KeyboardInterrupt):
        train_one(levels, path, 0, s, verbose=0, after_epoch=stop_after(2, []))
    assert open(path, "rb").read() == old                      # the previous model is intact
    hidden = sorted(os.listdir(tmp_path))
    assert any(".ckpt" in f for f in hidden) and not any(f.endswith(".tmp") for f in hidden)
    job = dict(seed=0, train_images=20)
    assert not util.finished_with(path, s, job)                 # a stopped run is pending on it
    seen = []
    resumed = train_one(levels, path, 0, s, resume=True, verbose=0, after_epoch=stop_after(99, seen))
    assert seen == [3, 4]                                      # finished epochs are not redone
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert os.listdir(tmp_path) == ["model_0.keras"]           # checkpoints cleaned up
    assert open(path, "rb").read() != old and util.finished_with(path, s, job)
    straight = train_one(levels, str(tmp_path / "straight.keras"), 0, s, verbose=0)
    assert curve(resumed) == pytest.approx(curve(straight), rel=1e-4)   # as if never stopped


def test_resume_with_other_settings_is_refused(tmp_path):
    levels = two_class_levels(20, 4)[0]
    path = str(tmp_path / "model_0.keras")
    with pytest.raises(KeyboardInterrupt):
        train_one(levels, path, 0, small(epochs=3), verbose=0, after_epoch=stop_after(1, []))
    with pytest.raises(util.UserError, match="other settings"):
        train_one(levels, path, 0, small(epochs=5), verbose=0, resume=True)
    ckpt = tmp_path / ".training.ckpt.json"                 # as written before train_objective existed
    saved = json.loads(ckpt.read_text())
    del saved["run"]["settings"]["train_objective"]
    ckpt.write_text(json.dumps(saved))
    seen = []
    train_one(levels, path, 0, small(epochs=3), verbose=0, resume=True, after_epoch=stop_after(99, seen))
    assert seen == [2, 3]                                   # resumed, the setting at its default


def test_failed_save_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    keras = util.get_keras()
    path = str(tmp_path / "model_0.keras")
    s = small(gru_units=8)
    weights = util.GRUFamily.keras_model(s).get_weights()
    util.save_model(path, weights, s, dict(digit=0))
    before = open(path, "rb").read()

    def disk_full(self, *a, **k):
        open(a[0], "wb").write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(util.UserError, match=f"cannot write {path}: No space left on device"):
        util.save_model(path, weights, s, dict(digit=0))
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["model_0.keras"]


def ctrl_c(*a, **k):
    raise KeyboardInterrupt


def sigterm(*a, **k):
    """kill PID: a run in the background, where the shell ignores Ctrl-C, must stop as Ctrl-C stops it."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)                                       # the handler ends this at once
    raise AssertionError("SIGTERM did not stop training")


@pytest.mark.parametrize("stop", [ctrl_c, sigterm])
def test_stopped_train_script_keeps_the_old_model_and_says_how_to_resume(tmp_path, monkeypatch, fake_mnist_npz, stop):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    path = tmp_path / "model_0.keras"
    train_one(two_class_levels(5, 5)[0], str(path), 0, small(epochs=1, gru_units=8), verbose=0)
    old, handler = path.read_bytes(), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(util, "train_models", stop)
    with pytest.raises(SystemExit) as exit_info:
        util.run_main(lambda: train_mnist.main(["--digit=0", f"--models_dir={tmp_path}", "--quiet"]))
    assert "interrupted" in str(exit_info.value.code) and "--resume=True" in str(exit_info.value.code)
    assert path.read_bytes() == old and signal.getsignal(signal.SIGTERM) == handler


def test_stopped_all_digits_run_resumes_where_it_stopped(tmp_path, monkeypatch, fake_mnist_npz):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    small_config(monkeypatch)                                  # config.py's constants: GRU(8), 6x6
    real, calls = util.train_models, []

    def tiny(jobs, settings, **kw):                            # tiny models, epochs recorded
        seen = []
        calls.append(([j["digit"] for j in jobs], seen))
        return real(jobs, settings, **dict(kw, after_epoch=stop_after(stop, seen)))
    monkeypatch.setattr(util, "train_models", tiny)
    argv = ["--all_digits=True", "--num_images=5", "--epochs=2", f"--models_dir={tmp_path}", "--quiet"]
    stop = 1
    with pytest.raises(SystemExit, match="--resume=True"):
        train_mnist.main(argv)
    assert calls[-1] == (list(range(10)), [1]) and not list(tmp_path.glob("model_*.keras"))
    stop = None
    train_mnist.main(argv + ["--resume=True"])
    assert calls[-1] == (list(range(10)), [2]) and len(list(tmp_path.glob("model_*.keras"))) == 10
    calls.clear()
    train_mnist.main(argv + ["--resume=True"])                 # all finished with these settings: kept
    assert calls == []
    train_mnist.main(argv[:2] + ["--epochs=1"] + argv[3:] + ["--resume=True"])   # other settings: redone
    assert calls == [(list(range(10)), [1])]


def test_a_deskewing_profile_trains_and_classifies_on_deskewed_images(tmp_path):
    """shift_deskew's training jobs hold the shifted copies of the deskewed images, and
    a model that records deskew reads deskewed copies when it classifies; without the
    setting, the images as they are."""
    import types
    data, s = synthetic_mnist(), util.settings_for("shift_deskew")
    args = types.SimpleNamespace(all_digits=False, digit=3, num_images=None, skip_existing=False, resume=False,
                                 init_models=None)
    job, = util.training_jobs(dataclasses.replace(s, models_dir=str(tmp_path)), args, data)
    images, transforms = data["x_train"][data["y_train"] == 3], s.train_latents()
    deskewed = util.preprocess_transformed(util.deskew_images(images), transforms, 10, 6)
    assert np.array_equal(job["levels"], deskewed)
    assert not np.array_equal(deskewed, util.preprocess_transformed(images, transforms, 10, 6))
    for setting in (True, False):
        net = types.SimpleNamespace(target_size=10, levels=7, settings=dataclasses.replace(s.model(), deskew=setting))
        expected = util.deskew_images(data["x_test"]) if setting else data["x_test"]
        assert np.array_equal(util.classifier_inputs(data["x_test"], [[net]], transforms),
                              util.preprocess_transformed(expected, transforms, 10, 6))


def test_the_held_out_share_is_drawn_image_by_image_or_in_runs_of_consecutive_images():
    """validation_block=1 draws the held-out images as before the setting existed (the
    shipped models' splits); B > 1 holds out whole runs of B consecutive images in a random
    order, the last one cut to the share, each seed its own runs."""
    n, share, held = 1000, 0.1667, 167
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(n)
        train, val = util.split_validation(n, share, seed)
        assert np.array_equal(val, np.sort(order[:held])) and np.array_equal(train, np.sort(order[held:]))
        train, val = util.split_validation(n, share, seed, block=50)
        assert len(val) == held and np.array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
        runs = np.unique(val // 50)
        whole = [r for r in runs if np.isin(np.arange(50 * r, 50 * r + 50), val).all()]
        assert len(runs) == 4 and len(whole) == 3                  # three whole runs and 17 of a fourth
        assert np.array_equal(val[val // 50 == (set(runs) - set(whole)).pop()] % 50, np.arange(17))
    assert not np.array_equal(util.split_validation(n, share, 0, 50)[1], util.split_validation(n, share, 1, 50)[1])
    train, val = util.split_validation(1010, 0.5, 0, block=50)     # a short last run (10 images) is drawn too
    assert len(val) == 505 and len(train) == 505 and len(np.unique(np.concatenate([train, val]))) == 1010


def test_training_holds_out_the_runs_it_is_given_and_its_file_records_them(tmp_path):
    """train_models holds out split_validation's runs, the file records validation_block, a
    resume with another run length is a different run, and recorded_split (what the
    benchmarks and the `no digit` thresholds read) gives the split back; older files
    without the setting read as image by image."""
    from pixelbayes import training
    levels = np.random.default_rng(3).integers(0, 7, (1, 12, SIZE, SIZE)).astype(np.uint8)
    s = small(epochs=1, gru_units=8, batch_size=4, validation_fraction=0.25, validation_block=3)
    run = training.setup_training([dict(levels=levels, path=str(tmp_path / "model_0.keras"), digit=0, seed=5)], s)
    assert np.array_equal(run.val_idx[0], util.split_validation(12, 0.25, 5, 3)[1])
    assert np.ptp(run.val_idx[0]) == 2 and run.val_idx[0][0] % 3 == 0                      # one whole run of 3
    meta = train_one(levels[0], str(tmp_path / "model_0.keras"), 0, s, seed=5, verbose=0)
    assert meta["settings"]["validation_block"] == 3
    assert util.recorded_split(util.read_meta(str(tmp_path / "model_0.keras"))) == (0.25, 5, 3)
    job = dict(seed=5, train_images=12)
    assert util.finished_with(str(tmp_path / "model_0.keras"), s, job)
    assert not util.finished_with(str(tmp_path / "model_0.keras"), dataclasses.replace(s, validation_block=1), job)
    older = dict(meta, settings={k: v for k, v in meta["settings"].items() if k != "validation_block"})
    assert util.recorded_split(older) == (0.25, 5, 1)
    import types
    from pixelbayes import novelty                               # the `no digit` thresholds' images
    net = types.SimpleNamespace(settings=util.ModelSettings.from_record(meta["settings"]), meta=meta)
    data = dict(x_train=np.arange(24)[:, None, None] * np.ones((1, 28, 28)), y_train=np.repeat([0, 1], 12))
    x, y = novelty.held_out(data, [[net]])
    val = util.split_validation(12, 0.25, 5, 3)[1]
    assert np.array_equal(x[:, 0, 0], np.concatenate([val, val + 12])) and np.array_equal(y, [0, 0, 0, 1, 1, 1])


def test_the_latent_objective_trains_the_classifiers_own_mixture(tmp_path, monkeypatch):
    """train_objective="latent": each step takes batch_size images with all their 9 shifted
    copies in consecutive rows, and the loss of an image (and the held-out loss that picks
    the epoch) is -log of the mean of its copies' likelihoods: the numpy classifier's
    9-shift mixture, to float32 accuracy. The file records the objective."""
    from pixelbayes import training
    images = np.clip(np.random.default_rng(2).integers(0, 255, (12, 28, 28)), 0, 255).astype(np.uint8)
    s = small(train_shifts=1, train_objective="latent", epochs=1, gru_units=8, batch_size=4,
              validation_fraction=0.25)
    copies = util.preprocess_transformed(images, s.train_latents(), SIZE, 6)
    run = training.setup_training([dict(levels=copies, path=str(tmp_path / "model_0.keras"), digit=0, seed=0)], s)
    net = util.NumpyGRU(training.model_weights(run.model, 0), s.model())
    mixture = -util.log_mean_exp(np.stack([net.log_likelihoods(c) for c in copies]), 0) / s.seq_len
    train, held = run.train_idx[0], run.val_idx[0]
    x, y = training._batch(run, [train], "all")
    assert x.shape == (9 * len(train), 1, s.seq_len)
    assert np.array_equal(x[9:18, 0], copies[:, train[1]].reshape(9, -1))    # image 1's copies, in order
    got = np.asarray(training._example_nats(s, run.model(x), y))[:, 0]
    np.testing.assert_allclose(got, mixture[train], rtol=1e-5)
    np.testing.assert_allclose(training.held_out_nats(run)[0], mixture[held].mean(), rtol=1e-5)
    seen = []
    real_fit = util.get_keras().Model.fit

    def spy(self, x, y, **kw):
        seen.append(kw["batch_size"])
        return real_fit(self, x, y, **kw)
    monkeypatch.setattr(util.get_keras().Model, "fit", spy)
    meta = train_one(copies, str(tmp_path / "model_0.keras"), 0, s, verbose=0)
    assert seen == [9 * 4] and meta["settings"]["train_objective"] == "latent"
    job = dict(seed=0, train_images=12)
    assert not util.finished_with(str(tmp_path / "model_0.keras"), dataclasses.replace(s, train_objective="augment"), job)
    with pytest.raises(util.UserError, match="train_objective"):
        import config
        monkeypatch.setitem(config.profiles, "odd", {"train_objective": "latnet"})
        util.settings_for("odd")


def test_training_can_start_from_trained_models_of_the_same_network(tmp_path, monkeypatch, fake_mnist_npz):
    """--init_models: each model starts from the trained file of its digit (its weights
    exactly), and the new file records where it started; a file of another network, or
    none, is refused in one line, before the models folder is made."""
    levels = two_class_levels(10, 6)[0]
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    before = train_one(levels, util.model_path(str(first), 0), 0, small(epochs=2, gru_units=8), verbose=0)
    s = small(epochs=1, gru_units=8, learning_rate=1e-3)
    start = util.starting_point(str(first), 0, 0, s)
    from pixelbayes import training
    job = dict(start, levels=levels, path=util.model_path(str(second), 0), digit=0, seed=5)
    run = training.setup_training([job], s)
    saved = util.load_net(util.model_path(str(first), 0)).weights
    assert all(np.array_equal(np.reshape(a, np.shape(b)), b) for a, b in zip(saved, training.model_weights(run.model, 0)))
    meta = util.train_models([job], s, verbose=0)[0]
    assert meta["init_from"]["best_epoch"] == before["best_epoch"] and meta["init_from"]["settings"]["epochs"] == 2
    assert util.read_meta(job["path"])["init_from"] == meta["init_from"]
    with pytest.raises(util.UserError, match=r"another network \(gru_units=8\)"):
        util.starting_point(str(first), 0, 0, small(epochs=1, gru_units=16))
    with pytest.raises(util.UserError, match="is missing"):
        util.starting_point(str(first), 1, 0, s)
    import train_mnist
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    with pytest.raises(util.UserError, match="is missing"):
        train_mnist.main(["--digit=1", "--epochs=1", f"--init_models={first}", f"--models_dir={tmp_path / 'third'}"])
    assert not (tmp_path / "third").exists()
