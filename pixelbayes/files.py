"""Files written atomically: a crash, Ctrl-C or full disk never leaves half a file."""
import json
import os
import tempfile

from .errors import UserError


def atomic_write(path, write, suffix=""):
    """Call write(tmp_path) on a temporary file beside `path`, then rename it into place.

    A crash, Ctrl-C or full disk leaves the old file intact and removes the temporary.
    A failing write is a UserError naming the file and the system's reason.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix,
                                   dir=folder)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as err:
        remove_quietly(tmp)
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        remove_quietly(tmp)
        raise


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def make_folder(path):
    """os.makedirs(path, exist_ok=True); a failure is a UserError naming the folder."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create folder {path}: {err.strerror or err}") from None
    return path


def write_json(path, obj):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
    atomic_write(path, write)

