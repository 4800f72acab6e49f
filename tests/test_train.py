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


def test_long_runs_train_unrolled_and_save_the_plain_model(tmp_path, monkeypatch):
    monkeypatch.setattr(util.config, "unroll_min_steps", 1)     # make this short run "long"
    built = []
    real_build = util.build_model
    monkeypatch.setattr(util, "build_model", lambda *a, **kw: built.append(kw) or real_build(*a, **kw))
    levels = two_class_levels(40, 2)[0]
    path = str(tmp_path / "model_0.keras")
    meta = util.train_digit(levels, path, 0, epochs=3, batch_size=8, units=16, learning_rate=1e-2,
                            clipnorm=0.5, validation_fraction=0, verbose=0)
    assert built[0] == {"unroll": True}
    losses = [h["loss"] for h in meta["history"]]
    assert losses[-1] < losses[0] and meta["clipnorm"] == 0.5
    model, saved = util.load_digit_model(path, 0)
    assert not model.get_layer("gru").unroll and saved["clipnorm"] == 0.5


class StopAfter(util.get_keras().callbacks.Callback):
    """Simulates Ctrl-C at the end of an epoch."""
    def __init__(self, epoch):
        super().__init__()
        self.stop_epoch, self.seen = epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.stop_epoch:
            raise KeyboardInterrupt


def test_interrupted_training_keeps_the_old_model_and_resumes(tmp_path):
    levels = two_class_levels(20, 3)[0]
    path = str(tmp_path / "model_0.keras")
    kw = dict(epochs=4, batch_size=8, units=16, validation_fraction=0.2, verbose=0)
    util.train_digit(levels, path, 0, epochs=1, batch_size=8, units=16, validation_fraction=0, verbose=0)
    old = open(path, "rb").read()
    with pytest.raises(KeyboardInterrupt):
        util.train_digit(levels, path, 0, callbacks=[StopAfter(2)], **kw)
    assert open(path, "rb").read() == old                      # the previous model is intact
    hidden = sorted(os.listdir(tmp_path))
    assert any(".ckpt" in f for f in hidden) and not any(f.endswith(".tmp") for f in hidden)
    watcher = StopAfter(99)
    meta = util.train_digit(levels, path, 0, resume=True, callbacks=[watcher], **kw)
    assert watcher.seen == [3, 4]                              # finished epochs are not redone
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3, 4]
    assert os.listdir(tmp_path) == ["model_0.keras"]           # checkpoints cleaned up
    assert open(path, "rb").read() != old


def test_resume_with_other_settings_is_refused(tmp_path):
    levels = two_class_levels(20, 4)[0]
    path = str(tmp_path / "model_0.keras")
    with pytest.raises(KeyboardInterrupt):
        util.train_digit(levels, path, 0, epochs=3, batch_size=8, units=16, verbose=0,
                         callbacks=[StopAfter(1)])
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


def test_ctrl_c_in_train_script_says_the_old_model_was_kept(tmp_path, monkeypatch, capsys, fake_mnist_npz):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    levels = two_class_levels(5, 5)[0]
    util.train_digit(levels, str(tmp_path / "model_0.keras"), 0, epochs=1, units=8,
                     validation_fraction=0, verbose=0)

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(util, "train_digit", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        train_mnist.main(["--digit=0", f"--models_dir={tmp_path}", "--quiet"])
    assert "previous" in str(exit_info.value.code) and "kept" in str(exit_info.value.code)
    assert "--resume" in str(exit_info.value.code)


def test_stopped_all_digits_run_resumes_without_redoing_finished_digits(tmp_path, monkeypatch, fake_mnist_npz):
    monkeypatch.setenv("MNIST_PATH", fake_mnist_npz)
    real, trained = util.train_digit, []

    def stop_at_digit_3(levels, path, digit, **kw):
        if digit == 3:
            raise KeyboardInterrupt
        trained.append(digit)
        return real(levels, path, digit, **dict(kw, units=8))
    argv = ["--all_digits=True", "--num_images=5", "--epochs=1", f"--models_dir={tmp_path}", "--quiet"]
    monkeypatch.setattr(util, "train_digit", stop_at_digit_3)
    with pytest.raises(SystemExit, match="--resume=True"):
        train_mnist.main(argv)
    assert trained == [0, 1, 2]
    trained.clear()
    monkeypatch.setattr(util, "train_digit", lambda *a, **kw: (trained.append(a[2]), real(*a, **dict(kw, units=8)))[1])
    train_mnist.main(argv + ["--resume=True"])
    assert trained == [3, 4, 5, 6, 7, 8, 9]
    trained.clear()
    train_mnist.main(argv[:2] + ["--epochs=2"] + argv[3:] + ["--resume=True"])   # other settings: redone
    assert trained == list(range(10))
