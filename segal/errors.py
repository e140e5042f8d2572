"""segal's own errors: what a user asked for or gave that segal cannot use.

The tools print a :class:`SegalError` (and an ``OSError``: a missing file, a
full disk) as one line naming the file, key or value at fault. Any other
exception is a bug in segal and is shown with its traceback.
"""


class SegalError(Exception):
    """Base of the errors about a user's input, files or machine that segal explains in one line."""


class InvalidValue(SegalError, ValueError):
    """A setting, argument or file content that segal cannot use; the message names it."""


class MissingDependency(SegalError, ImportError):
    """An optional package that a setting needs is not installed; the message names the pip command."""


def one_line(err: Exception) -> str:
    """The message of ``err`` on one line, with a hint for file-system errors.

    An error re-raised from a DataLoader worker carries the worker's
    traceback in its message; only the worker's own last line is kept.
    """
    message = str(err.args[0] if err.args else err) if isinstance(err, KeyError) else str(err)
    if "Original Traceback (most recent call last)" in message:
        worker = message.split("\n", 1)[0].rstrip(".")
        last = [line for line in message.splitlines() if line.strip()][-1].strip()
        message = f"{last.split(': ', 1)[-1]} ({worker.replace('Caught', 'raised as').strip()})"
    message = " ".join(message.split())
    if isinstance(err, PermissionError):
        message += "; make it writable or choose another folder (--work-dir)"
    elif isinstance(err, (IsADirectoryError, NotADirectoryError, FileExistsError)):
        message += "; choose another path"
    return message
