"""Grids, pictures and the printed report (numpy, Pillow for saving)."""
import numpy as np

from .files import atomic_write
from .numerics import bits_per_pixel
from .preprocess import levels_to_uint8


def tile_grid(levels, rows, cols, tile_size, max_intensity):
    """levels (rows*cols, s, s) -> uint8 image (rows*tile_size, cols*tile_size), nearest-neighbour."""
    levels = np.asarray(levels)
    n, s = levels.shape[0], levels.shape[1]
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    pixels = levels_to_uint8(levels, max_intensity)
    idx = np.arange(tile_size) * s // tile_size
    big = pixels[:, idx][:, :, idx]                               # (n, tile, tile)
    return big.reshape(rows, cols, tile_size, tile_size).transpose(0, 2, 1, 3).reshape(
        rows * tile_size, cols * tile_size)


def save_png(array, path):
    """Write a uint8 array as a PNG, atomically; the folder must exist."""
    from PIL import Image
    atomic_write(path, lambda tmp: Image.fromarray(np.asarray(array, np.uint8)).save(tmp, format="PNG"),
                 suffix=".png")
    return path


def classification_report(labels, predictions, matrix):
    """Accuracy overall and per true digit, and the confusion matrix, as plain Python."""
    labels = np.asarray(labels)
    per = {}
    for d in range(matrix.shape[0]):
        if matrix[d].sum():
            per[str(d)] = round(float(matrix[d, d] / matrix[d].sum()), 4)
    return {"accuracy": float(np.mean(np.asarray(predictions) == labels)),
            "per_digit_accuracy": per, "confusion_matrix": matrix.tolist()}


def nll_table(loglik, labels, num_pixels):
    """Mean NLL in bits per pixel: row = true digit of the images, column = model's digit."""
    table = np.full((loglik.shape[1], loglik.shape[1]), np.nan)
    for d in range(loglik.shape[1]):
        rows = loglik[np.asarray(labels) == d]
        if len(rows):
            table[d] = bits_per_pixel(-rows.mean(0) / num_pixels)
    return np.round(table, 4)


def format_report(res):
    """The text that classification.py prints: a line per image of the user's (if any),
    then, with labels, the tutorial's accuracy line, the per-digit accuracy and the
    confusion matrix (and the NLL table), then the time."""
    lines = [format_images(res["images"])] if res.get("images") else []
    if "accuracy" in res:
        lines += [f"Classification accuracy on a test set: {res['accuracy']:.4f}",
                  "per-digit accuracy: " + "  ".join(f"{d}: {a:.4f}" for d, a in res["per_digit_accuracy"].items()),
                  "confusion matrix (rows: true digit, columns: predicted digit):",
                  "      " + "".join(f"{d:>6}" for d in range(10))]
        lines += [f"{d:>6}" + "".join(f"{v:>6}" for v in row) for d, row in enumerate(res["confusion_matrix"])]
    if "nll_bits_per_pixel" in res:
        lines += ["test NLL in bits per pixel (rows: true digit, columns: model of digit):",
                  "      " + "".join(f"{d:>7}" for d in range(10))]
        lines += [f"{d:>6}" + "".join(f"{v:>7.3f}" for v in row) for d, row in enumerate(res["nll_bits_per_pixel"])]
    robust = "; read " + ", ".join(f"{n} {how}" for how, n in res["readings"].items()) if "readings" in res else ""
    lines.append(f"{res['num_images']} image{'s' * (res['num_images'] != 1)} in {res['seconds']:.1f} s "
                 f"({res['model_seconds']:.1f} s in the models{robust})")
    if "confusion_png" in res:
        lines.append(f"confusion matrix picture -> {res['confusion_png']}")
    if "preprocessed_png" in res:
        lines.append(f"the images as the models see them -> {res['preprocessed_png']}")
    return "\n".join(lines)


def confusion_cells(matrix, cell=28):
    """Heat-map of a confusion matrix, row-normalised, as a uint8 array (pure numpy)."""
    m = np.asarray(matrix, np.float64)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    shade = np.round(255 * (1 - np.sqrt(share))).astype(np.uint8)     # dark = many
    img = np.repeat(np.repeat(shade, cell, 0), cell, 1)
    img[::cell, :] = 200
    img[:, ::cell] = 200
    return img


def save_confusion_png(matrix, path, cell=28):
    """The confusion matrix as a labelled picture (counts in the cells)."""
    from PIL import Image, ImageDraw
    n = len(matrix)
    body = confusion_cells(matrix, cell)
    canvas = np.full((body.shape[0] + cell, body.shape[1] + cell), 255, np.uint8)
    canvas[cell:, cell:] = body
    image = Image.fromarray(canvas).convert("RGB")
    draw = ImageDraw.Draw(image)
    for d in range(n):
        draw.text((cell + d * cell + cell // 3, cell // 4), str(d), fill=(200, 0, 0))
        draw.text((cell // 3, cell + d * cell + cell // 4), str(d), fill=(0, 0, 200))
        for j in range(n):
            v = int(matrix[d][j])
            if v:
                dark = body[d * cell + 2, j * cell + 2] < 128
                draw.text((cell + j * cell + 2, cell + d * cell + cell // 3), str(v),
                          fill=(255, 255, 255) if dark else (0, 0, 0))
    save_png(np.asarray(image), path)
    return path


def curve_points(values, width, height, lo, hi, pad=24):
    """Pixel coordinates of a series on a (width, height) canvas (pure numpy)."""
    values = np.asarray(values, np.float64)
    x = pad + np.arange(len(values)) * (width - 2 * pad) / max(len(values) - 1, 1)
    y = height - pad - (values - lo) / max(hi - lo, 1e-12) * (height - 2 * pad)
    return list(zip(x.tolist(), y.tolist()))


def save_learning_curve(history, path, width=320, height=200):
    """Training (black) and validation (red) bits per pixel per epoch, as a PNG."""
    from PIL import Image, ImageDraw
    train = [h["bits_per_pixel"] for h in history]
    val = [h["val_bits_per_pixel"] for h in history if h.get("val_bits_per_pixel") is not None]
    lo, hi = min(train + val), max(train + val)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([24, 24, width - 24, height - 24], outline=(180, 180, 180))
    for series, colour in ((train, (0, 0, 0)), (val, (200, 0, 0))):
        if len(series) > 1:
            draw.line(curve_points(series, width, height, lo, hi), fill=colour, width=2)
    draw.text((26, 4), "bits/pixel: train (black), validation (red)", fill=(0, 0, 0))
    draw.text((2, 24), f"{hi:.2f}", fill=(0, 0, 0))
    draw.text((2, height - 34), f"{lo:.2f}", fill=(0, 0, 0))
    draw.text((width // 2 - 30, height - 18), f"epoch 1..{len(history)}", fill=(0, 0, 0))
    save_png(np.asarray(image), path)
    return path



def format_images(results):
    """One line per image of novelty.verdicts: the verdict, the digit, its posterior, the
    runner-up, the bits per pixel under the digit's model and the two novelty scores."""
    lines = []
    for r in results:
        verdict = f"digit {r['digit']}" if r["verdict"] == "digit" else f"no digit (nearest: {r['nearest']})"
        lines.append(f"{r['image']}: {verdict}, p={r['probability']:.3f}; runner-up {r['runner_up']} "
                     f"(p={r['runner_up_probability']:.3f}); {r['bits_per_pixel']:.3f} bits/pixel; "
                     f"log p(x) {r['log_px']:.1f}, log p(x) - log p_zlib(x) {r['log_ratio']:.1f}")
    return "\n".join(lines)


def preprocessed_grid(images, levels, max_intensity, per_row=10, tile=56):
    """Each image as the models see it: its 28x28 MNIST form and its levels side by side,
    tile x tile each, per_row pairs to a row; uint8."""
    n = len(images)
    rows = -(-n // per_row)
    pairs = np.zeros((rows * per_row, tile, 2 * tile), np.uint8)
    idx28, idxl = np.arange(tile) * images.shape[1] // tile, np.arange(tile) * levels.shape[1] // tile
    pairs[:n, :, :tile] = np.asarray(images)[:, idx28][:, :, idx28]
    pairs[:n, :, tile:] = levels_to_uint8(levels, max_intensity)[:, idxl][:, :, idxl]
    pairs[:n, :, tile] = 128                                  # a thin line between the two
    return pairs.reshape(rows, per_row, tile, 2 * tile).transpose(0, 2, 1, 3).reshape(rows * tile, per_row * 2 * tile)
