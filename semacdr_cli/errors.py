"""The one exception type that reaches the user as a single line (no traceback)."""


class SemacdrError(Exception):
    """A problem with the user's input or environment, reported as one line and exit code 1.

    The message names the file (and line) or the field at fault.
    """

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        if path is not None:
            where = f"{path}:{line}" if line is not None else str(path)
            message = f"{where}: {message}"
        super().__init__(message)
        self.message = message


class NotBuiltError(SemacdrError):
    """A command of the product's surface that does not work yet: it says so and exits non-zero."""

    exit_code = 2
