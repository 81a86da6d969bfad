"""fedexec's exceptions.

Every failure fedexec reports is a :class:`Error` carrying the status code
of the C++ runtime (``code``, an int, and ``code_name``, such as
``"CANCELLED"``) and its message, which names what is wrong and where.
Bad input (``INVALID_ARGUMENT``) is an :class:`InvalidArgumentError`, which
is also a :class:`ValueError`; the Python layer itself raises
:class:`TypeError` for a Python object of the wrong kind (a dict where a
tensor is expected, say), naming the argument path.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "CancelledError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "OutOfRangeError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "UnauthenticatedError",
]


class Error(Exception):
    """A failure reported by fedexec, with its status code.

    Attributes:
      code: the absl status code (an int; 1 is CANCELLED, 3 INVALID_ARGUMENT).
      code_name: the code's name, e.g. ``"UNAVAILABLE"``.
      message: fedexec's message.
    """

    code: int = 2
    code_name: str = "UNKNOWN"

    def __init__(self, message: str, code: int | None = None,
                 code_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if code_name is not None:
            self.code_name = code_name

    def __str__(self) -> str:
        return f"{self.code_name}: {self.message}"


class CancelledError(Error):
    """The computation was cancelled (Runtime.cancel_running, Ctrl-C)."""
    code, code_name = 1, "CANCELLED"


class InvalidArgumentError(Error, ValueError):
    """Bad input: an argument, a computation or an option fedexec rejects."""
    code, code_name = 3, "INVALID_ARGUMENT"


class DeadlineExceededError(Error, TimeoutError):
    """A deadline passed (a worker did not answer in time)."""
    code, code_name = 4, "DEADLINE_EXCEEDED"


class NotFoundError(Error):
    """Something named was not found."""
    code, code_name = 5, "NOT_FOUND"


class PermissionDeniedError(Error):
    """A file or a worker refused access."""
    code, code_name = 7, "PERMISSION_DENIED"


class ResourceExhaustedError(Error):
    """Memory or another resource ran out."""
    code, code_name = 8, "RESOURCE_EXHAUSTED"


class FailedPreconditionError(Error):
    """The operation does not fit the current state (a closed runtime)."""
    code, code_name = 9, "FAILED_PRECONDITION"


class OutOfRangeError(Error):
    """A value outside its range (an index, say)."""
    code, code_name = 11, "OUT_OF_RANGE"


class UnimplementedError(Error, NotImplementedError):
    """A feature fedexec does not have."""
    code, code_name = 12, "UNIMPLEMENTED"


class InternalError(Error):
    """A fault inside fedexec."""
    code, code_name = 13, "INTERNAL"


class UnavailableError(Error, ConnectionError):
    """Workers could not be reached."""
    code, code_name = 14, "UNAVAILABLE"


class UnauthenticatedError(Error):
    """A worker refused the token."""
    code, code_name = 16, "UNAUTHENTICATED"


_BY_CODE = {cls.code: cls for cls in (
    CancelledError, InvalidArgumentError, DeadlineExceededError, NotFoundError,
    PermissionDeniedError, ResourceExhaustedError, FailedPreconditionError,
    OutOfRangeError, UnimplementedError, InternalError, UnavailableError,
    UnauthenticatedError)}


def _from_status(code: int, code_name: str, message: str) -> Error:
    """The exception for a non-OK status (called by the extension)."""
    cls = _BY_CODE.get(code, Error)
    return cls(message, code, code_name)
