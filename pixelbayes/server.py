"""The demo page's server (demo.py): one static page (page/) and a small JSON API over
one Reader, with nothing but the standard library. Every request is answered: a body
over MAX_BODY is 413, what is not an image 400, an unknown address 404, anything else
that fails 500, each with one line of JSON ({"error": ...}) and no traceback. Nothing is
written to disk. The models are numpy nets shared by the request threads, so their
computations take turns under one lock.

    GET  /                  the page; /demo.js its script
    GET  /api/info          the profile, the models' size and levels, the reading order
    POST /api/read          body: an image (the canvas, PNG) -> posterior, verdict, views
    POST /api/complete?keep=F&count=N&digits=D
                            the rows above F (0..1 of the image's height) kept, the rest
                            drawn N times by each of the D leading digits' models
    GET  /api/draw?digit=K&seed=S
                            a new K drawn by its model, with the order it drew the pixels in
"""
import io
import json
import os
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import UserError, one_line
from .images import SIZE, mnist_form, open_image
from .reader import stage_name

MAX_BODY = 1 << 20                   # bytes: a larger request body is refused (413)
DRAIN, CHUNK = 16 << 20, 1 << 16      # a refused body up to DRAIN is read away (so the client reads
                                      # the answer) in CHUNKs; a larger one's connection is closed
MAX_PIXELS = 4096 * 4096             # an image larger than this is refused before it is decoded
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page")
FILES = {"/": ("demo.html", "text/html; charset=utf-8"), "/demo.js": ("demo.js", "text/javascript; charset=utf-8")}


class BadRequest(Exception):
    """A request the API cannot answer: its status and one line for the client."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def decode(body):
    """An image file's bytes -> its grey levels (h, w), float; BadRequest where they are not an image."""
    from PIL import Image
    if not body:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "the request has no image")
    try:
        with Image.open(io.BytesIO(body)) as img:          # the header only
            if img.width * img.height > MAX_PIXELS:
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"the image is {img.width}x{img.height}; at most "
                                                         f"{MAX_PIXELS} pixels")
        return open_image(io.BytesIO(body))
    except BadRequest:
        raise
    except Exception as err:                   # not an image, truncated, an unknown format
        known = type(err).__name__ == "UnidentifiedImageError"
        raise BadRequest(HTTPStatus.BAD_REQUEST, "not an image" + ("" if known else f": {one_line(err)}")) from None


def placed(levels):
    """Grey levels (h, w) of dark ink on light paper -> 28x28 uint8 ink, as placed on the
    page: the whole sheet scaled down (the page's guide box is MNIST's 20x20 box), not
    refitted to the ink as a classified image is, so that the kept rows stay where drawn."""
    from skimage.transform import resize
    small = resize(np.asarray(levels, np.float64), (SIZE, SIZE), anti_aliasing=True)
    return np.round(np.clip(255 - small, 0, 255)).astype(np.uint8)


def blank_sheet(side=28):
    """A white sheet as PNG bytes."""
    from PIL import Image
    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, "PNG")
    return out.getvalue()


class Demo:
    """What the page asks of the models, through one Reader (reader.Reader) and `no digit` at
    the held-out share reject."""

    def __init__(self, reader, reject):
        self.reader, self.reject = reader, reject
        self.lock = threading.Lock()
        self.read(blank_sheet())                        # the thresholds and the first reading's one-off costs, now

    def info(self):
        r = self.reader
        return dict(profile=r.settings.profile, size=r.net.target_size, levels=r.net.levels,
                    order=r.scan_positions().tolist(), reject=self.reject)

    def read(self, body):
        start, image = time.time(), mnist_form(decode(body))[None]
        r = self.reader
        with self.lock:
            reading = loglik, stage, seen = r.reading(image)
            verdict = r.verdicts(["canvas"], image, reading, self.reject)[0]
            posterior, limits = r.posteriors(loglik)[0], r.limits(self.reject, int(stage[0]))
        near = verdict["nearest"]
        return dict(verdict, posterior=[round(float(p), 4) for p in posterior], read_again=bool(stage[0] > 0),
                    reading=stage_name(r.stages[stage[0]]),
                    limits={k: round(v[near], 2) for k, v in limits.items()}, form=seen[0].tolist(),
                    levels=r.levels(seen)[0].tolist(), max_level=r.net.levels - 1, seconds=round(time.time() - start, 3))

    def complete(self, body, keep, count, digits, seed):
        """The image as placed on the page, its rows above `keep` (a share of the height)
        kept, and `count` completions by each of the `digits` leading digits' models (the
        digits as /api/read ranks them)."""
        r, sheet = self.reader, decode(body)
        image, levels = mnist_form(sheet)[None], r.levels(placed(sheet)[None])
        size = r.net.target_size
        rows = int(round(keep * size))
        known = np.zeros((count, size, size), bool)
        known[:, :rows] = True
        given, rng = (np.repeat(levels, count, 0), known), np.random.default_rng(seed)
        with self.lock:
            order = np.argsort(-r.posteriors(r.log_likelihoods(image))[0], kind="stable")[:digits]
            out = [dict(digit=int(k), images=r.sample(int(k), count, rng, given).tolist()) for k in order]
        return dict(kept_rows=rows, levels=levels[0].tolist(), completions=out, max_level=r.net.levels - 1)

    def draw(self, digit, seed):
        with self.lock:
            levels = self.reader.sample(digit, 1, np.random.default_rng(seed))[0]
        return dict(digit=digit, levels=levels.tolist(), order=self.reader.scan_positions().tolist(),
                    max_level=self.reader.net.levels - 1)


def number(query, name, default, low, high, kind=float):
    """A query parameter in [low, high] (default where absent); BadRequest otherwise."""
    text = query.get(name, [None])[0]
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise BadRequest(HTTPStatus.BAD_REQUEST, f"{name} must be a number from {low} to {high}, not {text!r}")
    return value


class Handler(BaseHTTPRequestHandler):
    """The requests of one Demo (the class attribute demo; make_server sets it)."""
    demo = None
    server_version = "pixelbayes-demo"
    protocol_version = "HTTP/1.1"
    timeout = 60                                  # seconds a client may stall mid-request

    def log_message(self, fmt, *args):           # one line per failed request only
        pass

    def send(self, status, body, kind="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            raise BadRequest(HTTPStatus.LENGTH_REQUIRED, "the request must say its Content-Length")
        try:
            length = int(length)
        except ValueError:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
        if length > MAX_BODY:
            self.close_connection = True        # the body is read away in pieces, kept nowhere
            for _ in range(min(length, DRAIN) // CHUNK):
                if not self.rfile.read(CHUNK):
                    break
            raise BadRequest(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {length} bytes; at most {MAX_BODY}")
        if length < 0:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "Content-Length is negative")
        return self.rfile.read(length)

    def answer(self, route):
        try:
            self.send(HTTPStatus.OK, route())
        except BadRequest as err:
            self.send(err.status, {"error": str(err)})
        except Exception as err:                 # a fault of ours: one line here, none of it there
            print(f"demo: {self.command} {self.path}: {one_line(err)}", file=sys.stderr)
            self.send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "the server failed to answer this request"})

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path in FILES:
            name, kind = FILES[url.path]
            with open(os.path.join(PAGE, name), "rb") as f:
                return self.send(HTTPStatus.OK, f.read(), kind)
        routes = {"/api/info": self.demo.info,
                  "/api/draw": lambda: self.demo.draw(number(query, "digit", 0, 0, 9, int),
                                                      number(query, "seed", None, 0, 2 ** 32 - 1, int))}
        self.answer(routes.get(url.path, lambda: self.missing(url.path)))

    do_HEAD = do_GET

    def do_POST(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        routes = {"/api/read": lambda: self.demo.read(self.body()),
                  "/api/complete": lambda: self.demo.complete(
                      self.body(), number(query, "keep", 0.5, 0.0, 1.0), number(query, "count", 4, 1, 8, int),
                      number(query, "digits", 3, 1, 10, int), number(query, "seed", None, 0, 2 ** 32 - 1, int))}
        self.answer(routes.get(url.path, lambda: self.missing(url.path)))

    def missing(self, path):
        raise BadRequest(HTTPStatus.NOT_FOUND, f"no such address: {path}")

class Server(ThreadingHTTPServer):
    """A thread per request; a connection that fails (the client left) is one line here."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        print(f"demo: a connection from {client_address[0]} failed: {one_line(sys.exc_info()[1])}", file=sys.stderr)


def make_server(demo, host, port):
    """A threading HTTP server of demo on (host, port); UserError where it cannot bind."""
    try:
        return Server((host, port), type("DemoHandler", (Handler,), {"demo": demo}))
    except (OSError, OverflowError) as err:
        hint = f"; try --port={port + 1}" if "in use" in str(err).lower() else ""
        raise UserError(f"cannot serve on {host}:{port}: {one_line(err)}{hint}") from None


def serve(server, out=sys.stdout):
    """Serve until Ctrl-C or SIGTERM (cli.run_main turns SIGTERM into KeyboardInterrupt)."""
    host, port = server.server_address[:2]
    print(f"serving the demo on http://{'localhost' if host == '127.0.0.1' else host}:{port}/ (Ctrl-C stops it)",
          file=out, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=out, flush=True)
    finally:
        server.server_close()
