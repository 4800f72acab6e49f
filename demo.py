"""A page to draw a digit on, served on this machine: the posterior over the ten digits
as you draw, `no digit`, the image as the models see it, the models completing your
strokes, and a digit drawn pixel by pixel. Nothing is fetched from outside; it works offline.

    python demo.py                      # then open http://localhost:8000/
    python demo.py --profile=best --port=8080
"""
import argparse
import os
import sys

# One image at a time: one BLAS thread is fastest. Set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import util  # noqa: E402

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_parser(s):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on; another than 127.0.0.1 lets other machines reach the page (default 127.0.0.1)")
    p.add_argument("--port", type=util.port_number, default=8000, help="port to serve on, 1..65535; 0: any free one (default 8000)")
    p.add_argument("--reject", type=util.fraction, default=0.01,
                   help="`no digit` below the log p(x) that all but this share of held-out training digits reach, "
                        "as classification.py --images (default 0.01)")
    util.add_bool_flag(p, "--uniform_priors", False, "equal priors p(k) = 1/10 instead of the training shares")
    return p


def main(argv=None):
    s, args = util.parse_flags(build_parser, argv)
    util.print_settings(s, args, ["models_dir", "mix", "ensemble", "canonical_form", "outlier_share"])
    server = util.make_server(util.Demo(util.Reader(s, util.load_mnist(), args.uniform_priors), args.reject),
                              args.host, args.port)
    if args.host not in LOOPBACK:
        print(f"note: serving on {args.host}, not only on this machine: others on the network can reach the page",
              file=sys.stderr)
    util.serve(server)


if __name__ == "__main__":
    util.run_main(main)
