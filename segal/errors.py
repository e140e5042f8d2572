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
