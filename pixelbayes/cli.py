"""The scripts' command line: argparse types, the shared flags, the settings line printed
once, and run_main, which turns a UserError, Ctrl-C or SIGTERM into one line and an exit status."""
import argparse
import contextlib
import dataclasses
import math
import os
import signal
import sys
import textwrap

from .errors import UserError
from .files import make_folder
from .families import FAMILIES
from .preprocess import MAX_SHIFT
from .settings import Settings, profile_names, settings_for


def str2bool(text):
    """argparse type for booleans: True/False/1/0 (any case); anything else is an error."""
    value = {"true": True, "1": True, "false": False, "0": False}.get(str(text).strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected True, False, 1 or 0, got {text!r}")
    return value


def _number(text, kind, ok, expected):
    """Parse text with kind (int or float); an argparse error unless ok(value)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    """argparse type for a whole number >= 1."""
    return _number(text, int, lambda v: v >= 1, "a whole number >= 1")


def positive_float(text):
    """argparse type for a number > 0."""
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a number > 0")


def non_negative_float(text):
    """argparse type for a number >= 0."""
    return _number(text, float, lambda v: v >= 0 and math.isfinite(v), "a number >= 0")


def fraction(text):
    """argparse type for a number in [0, 1)."""
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def port_number(text):
    """argparse type for a TCP port: 1..65535, or 0 for any free one."""
    return _number(text, int, lambda v: 0 <= v <= 65535, "a port 1..65535 (0: any free one)")


def digit_arg(text):
    """argparse type for a digit 0..9."""
    if str(text).strip() not in [str(d) for d in range(10)]:
        raise argparse.ArgumentTypeError(f"expected a digit 0..9, got {text!r}")
    return int(text)


def shift_radius(text):
    """argparse type for a shift radius: a whole number from 0 to preprocess.MAX_SHIFT."""
    return _number(text, int, lambda v: 0 <= v <= MAX_SHIFT, f"a whole number from 0 to {MAX_SHIFT}")


def _number_list(text, what, ok, expected):
    """A comma-separated list of numbers (or none) as a sorted tuple, each passing ok."""
    words = [w for w in str(text).replace(" ", "").split(",") if w and w.lower() != "none"]
    try:
        values = tuple(sorted({float(w) for w in words}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} separated by commas, or none, got {text!r}") from None
    if not all(math.isfinite(v) and ok(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return values


def angles(text):
    """argparse type for rotations in degrees besides 0: a comma-separated list, or none."""
    return _number_list(text, "degrees", lambda v: v != 0 and abs(v) <= 45, "angles from -45 to 45 degrees other than 0")


def scales_arg(text):
    """argparse type for scale factors besides 1: a comma-separated list, or none."""
    return _number_list(text, "scale factors", lambda v: v != 1 and 0.5 <= v <= 2,
                        "scale factors from 0.5 to 2 other than 1")


def devices_arg(text):
    """argparse type for --devices: a whole number >= 1 or 'all'."""
    if str(text).strip().lower() == "all":
        return "all"
    return str(_number(text, int, lambda v: v >= 1, "a whole number >= 1 or 'all'"))


def strokes_arg(text):
    """argparse type for stroke changes: a comma-separated list of -1 and 1, or none."""
    words = [w for w in str(text).replace(" ", "").split(",") if w and w.lower() != "none"]
    if any(w not in ("-1", "1", "+1") for w in words):
        raise argparse.ArgumentTypeError(f"expected -1, 1 or both, separated by commas, or none, got {text!r}")
    return tuple(sorted({int(w) for w in words}))


CLASSIFIER_FLAGS = ("test_shifts", "test_rotations", "test_strokes", "test_scales", "canonical_form",
                    "outlier_share", "robust_fallback", "strokes_fallback")     # flag = field name


def outlier_share_arg(text):
    """argparse type for --outlier_share: a number in [0, 1)."""
    return _number(text, float, lambda v: 0 <= v < 1, "a share from 0 to below 1")


def add_classifier_flags(p, s):
    """The flags of how the classifier reads an image: the mixture over latent transforms
    (Settings.test_latents), the canonical form and the outlier share."""
    p.add_argument("--test_shifts", type=shift_radius, default=s.test_shifts,
                   help=f"p(x | k) as the equal mixture over the shifts of the 28x28 image by up to this many pixels (default {s.test_shifts})")
    p.add_argument("--test_rotations", type=angles, default=s.test_rotations,
                   help="rotations (degrees besides 0, e.g. -10,10; 'none') in that mixture, each with every shift "
                        f"(default {','.join(map(str, s.test_rotations)) or 'none'})")
    p.add_argument("--test_strokes", type=strokes_arg, default=s.test_strokes,
                   help=f"stroke changes in that mixture: -1 thinner, 1 thicker, e.g. -1,1; 'none' (default {s.test_strokes or 'none'})")
    p.add_argument("--test_scales", type=scales_arg, default=s.test_scales,
                   help="scale factors (besides 1, e.g. 0.9,1.1; 'none') in that mixture, each with every shift "
                        f"and rotation (default {','.join(map(str, s.test_scales)) or 'none'})")
    add_bool_flag(p, "--canonical_form", s.canonical_form, "each image first in the canonical form: ink, brighter or "
                  "darker than its paper, as light ink on black, specks removed")
    p.add_argument("--outlier_share", type=outlier_share_arg, default=s.outlier_share,
                   help="each pixel's distribution mixed with this uniform share, so that no pixel costs a digit more "
                        f"than log(levels / share) nats (default {s.outlier_share:g}; 0: the model's own)")
    add_bool_flag(p, "--robust_fallback", s.robust_fallback, "the canonical form and the outlier share only for images "
                  "the models do not explain as they are (`no digit` read plainly); the others as they are")
    add_bool_flag(p, "--strokes_fallback", s.strokes_fallback, "images still unexplained read once more with their "
                  "strokes brought towards MNIST's widths")


def profile_arg(text):
    """argparse type for --profile: any profile of config.py (its recommended ones, 'best' or an
    experiment's); an unknown name is an error that lists the recommended ones."""
    try:
        settings_for(text)
    except UserError:
        raise argparse.ArgumentTypeError(f"unknown profile {text!r}; use one of {', '.join(profile_names())} "
                                         "(docs/profiles.md lists the experiments' too)") from None
    return text


def add_profile_flag(parser, default):
    """--profile NAME: the help lists the recommended profiles, not the experiments'."""
    parser.add_argument("--profile", type=profile_arg, default=default, metavar="NAME",
                        help=f"named settings from config.py: {', '.join(profile_names())} ('best' is the most "
                             f"accurate; docs/profiles.md lists the experiments' too) (default {default})")


def parse_flags(build_parser, argv=None):
    """A script's flags: --profile first, as the profile's settings are the other flags'
    defaults; then build_parser(settings) parses everything. Returns (settings, args)."""
    pre = argparse.ArgumentParser(add_help=False)
    add_profile_flag(pre, None)
    name = pre.parse_known_args(argv)[0].profile
    settings = settings_for(name)
    parser = build_parser(settings)
    add_profile_flag(parser, settings.default_profile)
    return settings, parser.parse_args(argv)


def models_dir_flag(settings, models_dir):
    """The models folder a script uses: its --models_dir flag, else the profile's. A
    mixture of profiles reads each profile's own folder, so it takes no flag."""
    if models_dir and settings.mix:
        raise UserError(f"profile {settings.profile} mixes the models of {', '.join(settings.mix)} "
                        "from their own folders; --models_dir does not apply")
    return models_dir or settings.models_dir


def without_profile(argv):
    """argv less its --profile flag (--profile=NAME or --profile NAME)."""
    out, skip = [], False
    for a in argv:
        if not skip and not a.startswith("--profile"):
            out.append(a)
        skip = a == "--profile"
    return out


def add_bool_flag(parser, name, default, help):
    """A boolean flag that takes True, False, 1 or 0 (any case), or stands alone for True:
    --quiet, --quiet=True and --quiet=1 are the same."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="{True,False}",
                        help=f"{help} (default {default})")


def print_settings(settings, args, used, stream=None, skip=()):
    """Print once, on stderr, what the script uses: the named Settings fields (a family's
    own fields with "family") and the script's own flags but those in skip (flags that do
    not apply to this run); results stay on stdout."""
    shown = {"profile": settings.profile}
    for name in used:
        if (name in ("mix", "cascade_sets_margin") and not settings.mix) or (name == "models_dir" and settings.mix):
            continue                            # a mixture reads each profile's own folder
        shown[name] = getattr(settings, name)
        if name == "family" and settings.family in FAMILIES:
            shown.update((f, getattr(settings, f)) for f in FAMILIES[settings.family].fields)
    fields = {f.name for f in dataclasses.fields(Settings)}
    shown.update((k, v) for k, v in vars(args).items() if k not in shown and k not in fields and k not in skip)
    text = "settings: " + " ".join(f"{k}={v}" for k, v in shown.items())
    print(textwrap.fill(text, width=100, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False),
          file=stream or sys.stderr)


def output_path(flag, folder, name):
    """Where a script writes a picture: the flag's path (its folder must exist; 'none':
    nowhere, None), else folder/name, the folder made if missing."""
    if flag is None:
        return os.path.join(make_folder(folder), name)
    if flag.lower() == "none":
        return None
    if not os.path.isdir(os.path.dirname(os.path.abspath(flag))):
        raise UserError(f"cannot write {flag}: its folder does not exist")
    return flag


@contextlib.contextmanager
def stop_on_sigterm():
    """Within it, SIGTERM (kill, a job scheduler's stop) stops as Ctrl-C does: a run started in the background,
    where the shell ignores Ctrl-C for it, can still stop cleanly. The old handler comes back after."""
    old = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_main(main):
    """Run a script's main(): UserError and Ctrl-C (or SIGTERM) become one line and a non-zero exit."""
    try:
        with stop_on_sigterm():
            main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.status)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:             # e.g. `| head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)

