"""A user's own images: put in MNIST's form (every image mode), classified by the shipped
models, `no digit` for noise and blank images while held-out digits pass, and each bad
input named in one line. Real MNIST comes through util.load_mnist() (cache, else the
package index); the scripts run with a private copy of the cache."""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import util
from conftest import ROOT, without_settings
from pixelbayes import images as user_images
from pixelbayes import novelty


def classify(*args, env, status=0):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "classification.py"), *args], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == status, proc.stderr
    return proc


def paper(image, factor=4):
    """An MNIST image as a user would draw it: dark ink on white, factor times larger."""
    return 255 - np.kron(image, np.ones((factor, factor), np.uint8))


def test_a_drawn_mnist_digit_comes_back_in_mnist_form(mnist):
    """Dark ink on white at 4x: inverted, cropped, scaled to 20x20 and centred by mass, it
    is nearly the image MNIST holds."""
    x = mnist["x_test"][:200]
    back = np.stack([user_images.mnist_form(paper(im).astype(float)) for im in x])
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(back, x)]
    assert np.median(corr) > 0.98 and np.mean(np.array(corr) > 0.9) > 0.95
    assert np.abs(back.astype(int) - x).mean() < 6                      # of 255


def test_a_photo_with_a_shadow_across_the_sheet_comes_back_in_mnist_form(mnist):
    """A user's photo (dark ink on white, 4x) with a straight-edged shadow over a third of it,
    paper and ink darkened to 40% there: the paper with edges (canonical.paper_regions) reads
    it as the digit, where the medians' paper draws the shadow's edge as ink."""
    from pixelbayes import canonical
    x = mnist["x_test"][:20]
    r, c = np.mgrid[0:112, 0:112]
    shade = np.where(0.6 * (c - 56) + 0.8 * (r - 56) > 15, 0.4, 1.0)
    corr = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]             # noqa: E731
    edged, plain = [], []
    for im in x:
        photo = paper(im).astype(float) * shade
        edged.append(corr(user_images.mnist_form(photo), im))
        canonical.EDGED = False
        try:
            plain.append(corr(user_images.mnist_form(photo), im))
        finally:
            canonical.EDGED = True
    assert np.median(edged) > 0.95 and np.median(edged) > np.median(plain) + 0.1


def test_the_same_digit_reads_alike_in_every_image_mode(mnist, tmp_path):
    ink = paper(mnist["x_test"][0])
    rgb = np.stack([ink, ink, ink], -1)
    alpha = np.stack([np.zeros_like(ink), 255 - ink], -1)                # black ink on a transparent sheet
    files = {
        "grey.png": Image.fromarray(ink), "rgb.jpg": Image.fromarray(rgb), "rgb.bmp": Image.fromarray(rgb),
        "alpha.png": Image.fromarray(alpha), "rgba.webp": Image.fromarray(rgb).convert("RGBA"),
        "palette.gif": Image.fromarray(rgb).convert("P"), "cmyk.tif": Image.fromarray(rgb).convert("CMYK"),
        "bits.png": Image.fromarray(ink).convert("1"),
        "sixteen.png": Image.fromarray(ink.astype(np.uint16) * 257),
    }
    for name, img in files.items():
        img.save(tmp_path / name)
    turned = Image.fromarray(np.rot90(ink).copy())                      # stored turned, upright by EXIF
    exif = turned.getexif()
    exif[0x0112] = 6                                                     # orientation: rotate 90 clockwise
    turned.save(tmp_path / "exif.jpg", exif=exif, quality=95)
    found = user_images.read_images([str(tmp_path)])
    assert found.problems == [] and len(found.x) == len(files) + 1
    reference = user_images.mnist_form(ink.astype(float))
    for name, image in zip(found.names, found.x):
        corr = np.corrcoef(image.ravel(), reference.ravel())[0, 1]
        assert corr > 0.9, (name, corr)


def test_a_huge_image_is_reduced_first(tmp_path):
    big = np.full((6000, 4000), 255, np.uint8)
    big[1500:4500, 1800:2200] = 0                                        # a long dark stroke: a 1
    Image.fromarray(big).save(tmp_path / "huge.png")
    found = user_images.read_images([str(tmp_path / "huge.png")])
    assert found.x.shape == (1, 28, 28) and found.x.max() == 255
    assert found.x[0, 14].max() == 255 and found.x[0, :, :8].max() == 0  # upright, in the middle


def test_user_images_are_classified_and_non_digits_are_rejected(mnist, real_env, tmp_path):
    """Held-out training digits (which no model trained on) pass; noise and blank images
    are `no digit`; drawn test digits get the test image's prediction."""
    folder = tmp_path / "mine"
    folder.mkdir()
    net = util.load_models(util.settings_for(), [0])
    x, y = novelty.held_out(mnist, net)
    pick = np.random.default_rng(0).choice(len(x), 100, replace=False)
    np.savez(folder / "held_out.npz", x=x[pick], y=y[pick])
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64)).astype(np.uint8)).save(folder / "noise.png")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(folder / "black.png")
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(folder / "white.png")
    for i in range(10):
        Image.fromarray(paper(mnist["x_test"][i])).save(folder / f"test_{i}.png")
    out = classify("--images", str(folder), "--json", "--confusion_output=none",
                   f"--save_preprocessed={tmp_path / 'seen.png'}", env=real_env)
    res = json.loads(out.stdout)
    by_name = {os.path.basename(r["image"]): r for r in res["images"]}
    for name in ("noise.png", "black.png", "white.png"):
        assert by_name[name]["verdict"] == "no digit", by_name[name]
        assert by_name[name]["digit"] is None and by_name[name]["nearest"] in range(10)   # no digit to misread
    held = [r for r in res["images"] if "held_out.npz" in r["image"]]
    assert len(held) == 100 and sum(r["verdict"] == "no digit" for r in held) <= 3
    assert "accuracy" not in res                                         # not every image has a label
    models = util.load_models(util.settings_for())
    loglik = util.mixture_log_likelihoods(models, mnist["x_test"][:10], util.latents(0), util.settings_for())
    expected = util.classify(loglik, util.log_priors(mnist["y_train"]))
    assert [by_name[f"test_{i}.png"]["nearest"] for i in range(10)] == expected.tolist()
    assert Image.open(tmp_path / "seen.png").size == (10 * 112, 12 * 56)  # 113 images, 10 pairs a row: 12 rows
    labelled = classify("--images", str(folder / "held_out.npz"), "--confusion_output=none", env=real_env)
    assert "Classification accuracy on a test set: 0.9" in labelled.stdout
    assert labelled.stdout.count("held_out.npz[") == 100


def test_idx_images_with_their_labels(mnist, real_env, tmp_path):
    from test_data import idx_bytes
    (tmp_path / "imgs-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(mnist["x_test"][:30])))
    (tmp_path / "labels-idx1-ubyte").write_bytes(idx_bytes(mnist["y_test"][:30]))
    out = classify("--images", str(tmp_path / "imgs-idx3-ubyte.gz"), str(tmp_path / "labels-idx1-ubyte"),
                   "--confusion_output=none", "--reject=0", env=real_env)
    assert out.stdout.count("imgs-idx3-ubyte.gz[") == 30 and "no digit" not in out.stdout
    assert "Classification accuracy on a test set: " in out.stdout


def test_bad_inputs_are_named_and_skipped(mnist, real_env, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(paper(mnist["x_test"][0])).save(good)
    blob = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(blob[:len(blob) // 2])
    (tmp_path / "text.jpg").write_text("not an image")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((3, 10, 10), np.uint8))
    out = classify("--images", str(tmp_path), "--reject=0", "--confusion_output=none", env=real_env, status=1)
    assert out.stdout.count("good.png: digit 7") == 1
    problems = without_settings(out.stderr)
    assert len(problems) == 3 and all(p.startswith("error: ") and p.endswith("; skipped") for p in problems)
    for name in ("truncated.png", "text.jpg", "wrong.npz"):
        assert sum(name in p for p in problems) == 1, name
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in ([str(empty)], [str(tmp_path / "*.tiff")], [str(tmp_path / "missing.png")]):
        proc = classify("--images", *args, env=real_env, status=2)
        lines = without_settings(proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: no image found in "), lines


def test_a_ruled_straight_one_is_a_one_and_a_blank_sheet_no_digit(real_env, tmp_path):
    """A compressor finds a ruled bar simpler than any handwritten 1, so the zlib ratio
    alone would call it `no digit`; capped at a typical digit's bits, it passes. A blank
    sheet has no ink: `no digit`, its nearest digit under its own key."""
    for width in (6, 12):
        sheet = np.full((80, 80), 255, np.uint8)
        sheet[8:72, 40 - width // 2:40 + width // 2] = 0
        Image.fromarray(sheet).save(tmp_path / f"bar{width}.png")
    Image.fromarray(np.full((80, 80), 200, np.uint8)).save(tmp_path / "grey_sheet.png")
    res = json.loads(classify("--images", str(tmp_path), "--json", env=real_env).stdout)
    by_name = {os.path.basename(r["image"]): r for r in res["images"]}
    assert [(by_name[f"bar{w}.png"]["verdict"], by_name[f"bar{w}.png"]["digit"]) for w in (6, 12)] == [("digit", 1)] * 2
    blank = by_name["grey_sheet.png"]
    assert blank["verdict"] == "no digit" and blank["digit"] is None and "no_ink" in blank["low_scores"]


def test_the_fallback_reads_clean_digits_as_shipped_and_unexplained_ones_robustly(mnist, real_env, monkeypatch):
    """robust_fallback and strokes_fallback: a clean test digit is read as it is (the same
    log-likelihoods as the plain reading), the same digit on grey paper, which the plain
    reading cannot explain, in the canonical form, and read right there where the plain
    reading fails; an image still unexplained then is read with its strokes evened."""
    import dataclasses
    from pixelbayes import changes
    monkeypatch.setenv("MNIST_CACHE", real_env["MNIST_CACHE"])         # thresholds cached in a private folder
    s = dataclasses.replace(util.settings_for(), canonical_form=True, outlier_share=0.1, robust_fallback=True,
                            strokes_fallback=True)
    x, y = mnist["x_test"][:40], mnist["y_test"][:40]
    grey, thin = changes.change(x, "grey_paper"), changes.change(x, "thinner")
    reader = util.Reader(s, mnist)
    images = np.concatenate([x, grey, thin])
    given = images.copy()
    reading = loglik, stage, _ = reader.reading(images)
    np.testing.assert_array_equal(images, given)                        # the caller's images left as they were
    assert [(st.canonical_form, st.even_strokes) for st in reader.stages] == [(False, False), (True, False), (True, True)]
    assert (stage[:40] > 0).sum() <= 2 and (stage[40:80] > 0).all() and (stage[80:] == 2).any()
    plain, _, stroked = reader.stages
    as_is = util.mixture_log_likelihoods(reader.models, x, s.test_latents(), plain)
    np.testing.assert_allclose(loglik[:40][stage[:40] == 0], as_is[stage[:40] == 0],
                               rtol=1e-5)                            # float32 nets, other batch sizes
    last = np.flatnonzero(stage == 2)
    np.testing.assert_allclose(loglik[last], util.mixture_log_likelihoods(reader.models, images[last], s.test_latents(),
                                                                          stroked), rtol=1e-5)
    priors = util.log_priors(mnist["y_train"])
    assert np.mean(util.classify(loglik[40:80], priors) == y) >= 0.95
    assert np.mean(util.classify(util.mixture_log_likelihoods(reader.models, grey, s.test_latents(), plain), priors) == y) < 0.5
    verdicts = reader.verdicts([str(i) for i in range(120)], images, reading, 0.01)
    assert sum(v["verdict"] == "digit" for v in verdicts[40:80]) >= 36         # judged under the reading they had
