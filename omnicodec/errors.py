"""The few exception types users catch.

Each subclasses the builtin a caller would naturally catch, so ``except ValueError`` still works
for code that does not know omnicodec.  Messages say what went wrong and what to do about it:
the CLI prints ``str(exc)`` as its one line.
"""


class OmnicodecError(Exception):
    """Base class of every error omnicodec raises on purpose."""


class UnknownCodecError(OmnicodecError, KeyError):
    """A codec id that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CorruptStreamError(OmnicodecError, ValueError):
    """A stream whose bytes are inconsistent: bad magic, checksum, digest or field."""


class TruncatedStreamError(CorruptStreamError):
    """A stream that ends before its declared content."""


class UnsupportedInputError(OmnicodecError, ValueError):
    """An input this codec or format cannot represent (mode, size, bit depth, version)."""


class MissingDependencyError(OmnicodecError, ImportError):
    """A codec needs a package that is not installed; the message names the extra."""


class ResourceLimitError(OmnicodecError, MemoryError):
    """A decode that would need more memory than ``omnicodec.limits.MAX_MEMORY`` allows
    (``codec decode --max-memory``); refused before it allocates."""
