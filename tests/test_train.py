import os

import numpy as np
import pytest

import train_mnist
import util


def two_class_levels(n, seed):
    """Toy problem at 10x10: class 0 is bright on the left half, class 1 on the right."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 30, (2, n, 28, 28))
    images[0, :, 4:24, 3:13] += 220
    images[1, :, 4:24, 15:25] += 220
    return [util.preprocess(np.clip(im, 0, 255).astype(np.uint8)) for im in images]


def test_toy_two_class_problem_is_classified_correctly(tmp_path):
    train, test = two_class_levels(60, 0), two_class_levels(40, 1)
    nets = []
    for k in range(2):
        path = str(tmp_path / f"model_{k}.keras")
        meta = util.train_digit(train[k], path, k, epochs=6, batch_size=16, units=24,
                                learning_rate=1e-2, validation_fraction=0.1, verbose=0)
        assert meta["best_epoch"] is not None and len(meta["history"]) == 6
        nets.append(util.NumpyGRU(util.load_digit_model(path, digit=k)[0]))
    levels = np.concatenate(test)
    labels = np.repeat([0, 1], 40)
    loglik = np.stack([util.log_likelihoods(net, levels) for net in nets], 1)
    assert np.mean(util.classify(loglik) == labels) >= 0.95
    # each model explains its own class better than the other class does
    assert loglik[labels == 0, 0].mean() > loglik[labels == 0, 1].mean()
    assert loglik[labels == 1, 1].mean() > loglik[labels == 1, 0].mean()


def test_training_reduces_the_loss(tmp_path):
    levels = two_class_levels(40, 2)[0]
    meta = util.train_digit(levels, str(tmp_path / "model_0.keras"), 0, epochs=4, batch_size=8,
                            units=16, learning_rate=1e-2, validation_fraction=0, verbose=0)
    losses = [h["loss"] for h in meta["history"]]
    assert losses[-1] < losses[0] and meta["best_epoch"] == 4


def curve(meta):
    """A run's losses, epoch by epoch: training, then held-out (when there was any)."""
    return [h["loss"] for h in meta["history"]] + [h["val_loss"] or 0 for h in meta["history"]]


def test_models_trained_side_by_side_equal_models_trained_alone(tmp_path):
    """Same images, seeds and settings: training two models in one graph gives each
    the weights it gets when trained alone (to float rounding)."""
    levels = two_class_levels(24, 6)
    kw = dict(epochs=2, batch_size=8, units=16, learning_rate=1e-2, clipnorm=0.5,
              validation_fraction=0.25, verbose=0)
    jobs = [dict(levels=levels[k], path=str(tmp_path / f"model_{k}.keras"), digit=k, seed=k + 3)
            for k in range(2)]
    together = util.train_models(jobs, **kw)
    nets = [util.load_digit_model(job["path"], job["digit"])[0].get_weights() for job in jobs]
    for k, job in enumerate(jobs):
        alone_path = str(tmp_path / f"alone_{k}.keras")
        alone = util.train_digit(job["levels"], alone_path, k, seed=job["seed"], **kw)
        assert curve(alone) == pytest.approx(curve(together[k]), rel=1e-4)
        for w_alone, w_together in zip(util.load_digit_model(alone_path, k)[0].get_weights(), nets[k]):
            np.testing.assert_allclose(w_alone, w_together, atol=1e-5)
    assert together[0]["seed"] == 3 and together[1]["trained_alongside"] == 2
    assert not np.allclose(nets[0][0], nets[1][0])


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
    kw = dict(epochs=4, batch_size=8, units=16, validation_fraction=0.2, verbose=0)
    util.train_digit(levels, path, 0, epochs=1, batch_size=8, units=16, validation_fraction=0, verbose=0)
    old = open(path, "rb").read()
    with pytest.raises(KeyboardInterrupt):
        util.train_digit(levels, path, 0, after_epoch=stop_after(2, []), **kw)
    assert open(path, "rb").read() == old                      # the previous model is intact
    hidden = sorted(os.listdir(tmp_path))
    assert any(".ckpt" in f for f in hidden) and not any(f.endswith(".tmp") for f in hidden)
    assert not util.finished_with(path, {})                     # a stopped run is pending on it
    seen = []
    resumed = util.train_digit(levels, path, 0, resume=True, after_epoch=stop_after(99, seen), **kw)
    assert seen == [3, 4]                                      # finished epochs are not redone
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert os.listdir(tmp_path) == ["model_0.keras"]           # checkpoints cleaned up
    assert open(path, "rb").read() != old
    straight = util.train_digit(levels, str(tmp_path / "straight.keras"), 0, **kw)
    assert curve(resumed) == pytest.approx(curve(straight), rel=1e-4)   # as if never stopped


def test_resume_with_other_settings_is_refused(tmp_path):
    levels = two_class_levels(20, 4)[0]
    path = str(tmp_path / "model_0.keras")
    with pytest.raises(KeyboardInterrupt):
        util.train_digit(levels, path, 0, epochs=3, batch_size=8, units=16, verbose=0,
                         after_epoch=stop_after(1, []))
    with pytest.raises(util.UserError, match="other settings"):
        util.train_digit(levels, path, 0, epochs=5, batch_size=8, units=16, verbose=0, resume=True)


def test_failed_save_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    keras = util.get_keras()
    path = str(tmp_path / "model_0.keras")
    model = util.build_model(7, 8)
    meta = dict(digit=0, target_size=10, max_intensity=6, num_classes=7, units=8)
    util.save_model(model, path, meta)
    before = open(path, "rb").read()

    def disk_full(self, *a, **k):
        open(a[0], "wb").write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(OSError):
        util.save_model(model, path, meta)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["model_0.keras"]


def test_ctrl_c_in_train_script_keeps_the_old_model_and_says_how_to_resume(tmp_path, monkeypatch, fake_mnist_npz):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    path = tmp_path / "model_0.keras"
    util.train_digit(two_class_levels(5, 5)[0], str(path), 0, epochs=1, units=8, validation_fraction=0, verbose=0)
    old = path.read_bytes()

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(util, "train_models", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        train_mnist.main(["--digit=0", f"--models_dir={tmp_path}", "--quiet"])
    assert "interrupted" in str(exit_info.value.code) and "--resume=True" in str(exit_info.value.code)
    assert path.read_bytes() == old


def test_stopped_all_digits_run_resumes_where_it_stopped(tmp_path, monkeypatch, fake_mnist_npz):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    real, calls = util.train_models, []

    def small(jobs, **kw):                                     # tiny models, epochs recorded
        seen = []
        calls.append(([j["digit"] for j in jobs], seen))
        return real(jobs, **dict(kw, units=8, after_epoch=stop_after(stop, seen)))
    monkeypatch.setattr(util, "train_models", small)
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
