"""fedexec: run federated computations from Python.

fedexec is a C++ runtime for federated computations; this package calls it
from Python with numpy values in and out, in-process or over workers, and
serves as the execution context of the ``federated_language`` package::

    import fedexec
    with fedexec.Runtime() as runtime:
        print(runtime.call("(x: {float32}@CLIENTS) -> federated_mean(x)",
                           [1.0, 2.0, 3.0]))   # 2.0

See docs/python.md for the value conventions, the zero-copy contract and
errors.
"""

from fedexec._runtime import Computation, Runtime
from fedexec.context import ExecutionContext, set_default_context
from fedexec.leaves import native
from fedexec.errors import (CancelledError, DeadlineExceededError, Error,
                            FailedPreconditionError, InternalError,
                            InvalidArgumentError, NotFoundError,
                            OutOfRangeError, PermissionDeniedError,
                            ResourceExhaustedError, UnauthenticatedError,
                            UnavailableError, UnimplementedError)

__version__ = "0.1.0"

__all__ = [
    "Computation",
    "Runtime",
    "ExecutionContext",
    "set_default_context",
    "native",
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
