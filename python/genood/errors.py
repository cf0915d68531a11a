"""The exceptions genood raises.

Every error of the library is a :class:`GenoodError` carrying the library's message (which
names the file, set or option at fault). A missing file or data set is also a
``FileNotFoundError``, a value that cannot be used also a ``ValueError``, so ``except
ValueError`` works as it does with numpy and scikit-learn. Training stopped by Ctrl-C or a
kernel interrupt raises ``KeyboardInterrupt`` after its last checkpoint is written.
"""


class GenoodError(Exception):
    """An error of genood's library: the message names the file, set or option at fault."""


class GenoodFileNotFoundError(GenoodError, FileNotFoundError):
    """A file, run folder or data set that is not there (fetch data with :func:`genood.fetch`)."""


class GenoodValueError(GenoodError, ValueError):
    """A value that cannot be used: images of the wrong dtype or shape, an unknown name, an
    option out of range."""


__all__ = ["GenoodError", "GenoodFileNotFoundError", "GenoodValueError"]
