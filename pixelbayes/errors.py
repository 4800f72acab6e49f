"""The one exception a user sees as a message, and how an exception becomes one line."""


class UserError(Exception):
    """A problem the user can fix; the scripts print it as one line and exit with status
    (1; 2 where nothing to work on was given, as for a bad flag)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def one_line(err):
    """An exception as one short line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__
