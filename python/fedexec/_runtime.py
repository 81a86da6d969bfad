"""fedexec.Computation and fedexec.Runtime."""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

from fedexec import _convert, _fedexec
from fedexec import leaves as _leaves


class Computation:
    """A type-checked federated computation.

    Make one with :meth:`from_text`, :meth:`from_file`, :meth:`from_proto`,
    :meth:`from_textproto` or :meth:`from_federated_language`; or pass any
    of those sources straight to :meth:`Runtime.call` (a ``str`` is text, an
    ``os.PathLike`` a file). Immutable; safe to share between threads.
    """

    __slots__ = ("_raw", "_parameter")

    def __init__(self, raw: _fedexec.Computation) -> None:
        self._raw = raw
        t = raw.type  # read once: every call converts by it
        self._parameter = t[1] if t[0] == "function" else None

    @classmethod
    def from_text(cls, text: str) -> "Computation":
        """Parses and type checks fedexec's text syntax (docs/syntax.md)."""
        return cls(_fedexec.Computation.from_text(text))

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> "Computation":
        """Reads a computation file: .fed (text), .pb (a serialized
        federated_language Computation) or .textproto (its text form)."""
        return cls(_fedexec.Computation.from_file(os.fspath(path)))

    @classmethod
    def from_proto(cls, data: bytes) -> "Computation":
        """Decodes a serialized ``federated_language.Computation`` proto
        (bytes, or a proto message with ``SerializeToString``)."""
        if hasattr(data, "SerializeToString"):
            data = data.SerializeToString()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"from_proto: expected bytes, found "
                            f"{type(data).__name__}")
        data = _leaves.to_fedexec_proto(bytes(data))
        return cls(_fedexec.Computation.from_proto(data))

    @classmethod
    def from_textproto(cls, text: str) -> "Computation":
        """Decodes a ``federated_language.Computation`` in protobuf text
        form."""
        return cls(_fedexec.Computation.from_textproto(text))

    @classmethod
    def from_federated_language(cls, computation: Any) -> "Computation":
        """Converts a computation traced by the federated_language package
        (a ``@federated_language.federated_computation`` function, or any
        object with ``to_proto()``)."""
        to_proto = getattr(computation, "to_proto", None)
        if to_proto is None:
            raise TypeError(
                f"from_federated_language: {type(computation).__name__} is "
                f"not a federated_language computation (it has no to_proto)")
        return cls.from_proto(to_proto().SerializeToString())

    @property
    def type_signature(self) -> str:
        """The computation's type in fedexec's notation, e.g.
        ``({float32}@CLIENTS -> float32@SERVER)``."""
        return self._raw.type_signature

    @property
    def parameter_type(self) -> Optional[Tuple]:
        """The parameter type as nested tuples (see _fedexec.pyi), or None
        when the computation takes no argument."""
        return self._parameter

    def to_text(self) -> str:
        """The computation in fedexec's text syntax (canonical)."""
        return self._raw.to_text()

    def to_proto(self) -> bytes:
        """The computation as a serialized federated_language Computation."""
        return self._raw.to_proto()

    def __repr__(self) -> str:
        return f"<fedexec.Computation {self.type_signature}>"


ComputationLike = Union[Computation, str, os.PathLike, Any]


def as_computation(source: ComputationLike) -> Computation:
    """A Computation from any source :meth:`Runtime.call` accepts."""
    if isinstance(source, Computation):
        return source
    if isinstance(source, str):
        return Computation.from_text(source)
    if isinstance(source, os.PathLike):
        return Computation.from_file(source)
    if isinstance(source, (bytes, bytearray)):
        return Computation.from_proto(bytes(source))
    if hasattr(source, "to_proto"):
        return Computation.from_federated_language(source)
    raise TypeError(
        f"expected a computation (fedexec.Computation, text, a path, proto "
        f"bytes or a federated_language computation), found "
        f"{type(source).__name__}")


def _pack_arguments(computation: Computation, args: tuple,
                    kwargs: dict) -> Any:
    """The one argument of a call from Python positional and keyword
    arguments: a single positional argument is the argument itself; several
    (or keywords) make the parameter's struct."""
    parameter = computation.parameter_type
    if parameter is None:
        if args or kwargs:
            raise TypeError(
                f"the computation {computation.type_signature} takes no "
                f"argument, given {len(args) + len(kwargs)}")
        return None
    if len(args) == 1 and not kwargs:
        return args[0]
    if not args and not kwargs:
        raise TypeError(f"the computation {computation.type_signature} takes "
                        f"an argument, given none")
    if parameter[0] != "struct":
        raise TypeError(
            f"the computation {computation.type_signature} takes one "
            f"argument, given {len(args) + len(kwargs)}")
    names = [n for n, _ in parameter[1]]
    if len(args) + len(kwargs) != len(names):
        raise TypeError(
            f"the computation {computation.type_signature} takes "
            f"{len(names)} arguments, given {len(args) + len(kwargs)}")
    values: list = list(args)
    for name in names[len(args):]:
        if name is None or name not in kwargs:
            raise TypeError(f"missing argument {name!r} of "
                            f"{computation.type_signature}")
        values.append(kwargs.pop(name))
    if kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)} for "
                        f"{computation.type_signature}")
    return tuple(values)


WorkersLike = Union[str, Sequence[Union[str, Tuple[str, float]]]]


class Runtime:
    """Runs federated computations: in this process (threads), or over
    fedexec workers (``fedexec worker``, or ``python -m fedexec.worker``).

    Use it as a context manager, or call :meth:`close`, to release its
    threads and connections::

        with fedexec.Runtime(threads=4) as runtime:
            runtime.call("(x: {float32}@CLIENTS) -> federated_mean(x)",
                         [1.0, 2.0, 3.0])

    Calls may be made from several Python threads at once; the GIL is
    released while a computation runs. Ctrl-C (KeyboardInterrupt) during a
    call made from the main thread cancels the runtime's running calls,
    waits for them to stop and raises KeyboardInterrupt.
    """

    def __init__(self, *, threads: int = 0, default_clients: int = 1,
                 cache_size: int = 4,
                 workers: Optional[WorkersLike] = None,
                 workers_file: Optional[Union[str, os.PathLike]] = None,
                 token_file: Optional[Union[str, os.PathLike]] = None,
                 tls: bool = False,
                 tls_root_cert: Optional[Union[str, os.PathLike]] = None,
                 tls_client_cert: Optional[Union[str, os.PathLike]] = None,
                 tls_client_key: Optional[Union[str, os.PathLike]] = None,
                 timeout: float = 60.0) -> None:
        """Makes a runtime.

        Args:
          threads: worker threads of this process; 0: one per hardware
            thread.
          default_clients: the number of clients of a call whose argument
            has no per-client value and that gives no ``num_clients``.
          cache_size: in-process stacks kept for reuse (one per client
            count); in-process runtimes only.
          workers: run over these workers instead of in-process:
            ``"host:port,host:port"``, or a list of ``"host:port"`` or of
            ``("host:port", capacity)`` pairs.
          workers_file: or a file listing them, one per line
            (``host:port [capacity]``).
          token_file: a file holding the bearer token the workers expect.
          tls: reach the workers over TLS (the system's root certificates).
          tls_root_cert: TLS, verifying the workers with this CA (PEM).
          tls_client_cert, tls_client_key: a client certificate and its key
            (PEM), for workers that require one.
          timeout: seconds each remote call that creates or disposes of
            values may take, and to reach the workers at start.

        Raises:
          InvalidArgumentError: a bad option (naming it).
          UnavailableError: no worker answered.
        """
        remote_only = dict(token_file=token_file, tls=tls,
                           tls_root_cert=tls_root_cert,
                           tls_client_cert=tls_client_cert,
                           tls_client_key=tls_client_key)
        if workers is not None and workers_file is not None:
            raise ValueError("give workers or workers_file, not both")
        if workers_file is not None:
            workers = _read_workers_file(os.fspath(workers_file))
        if workers is None:
            given = [k for k, v in remote_only.items() if v]
            if given:
                raise ValueError(f"{', '.join(given)}: only for a runtime "
                                 f"over workers (give workers=)")
            self._raw = _fedexec.Runtime.local(threads, default_clients,
                                               cache_size)
            self.workers: Tuple[str, ...] = ()
        else:
            specs = _parse_workers(workers)
            if not timeout > 0:
                raise ValueError(f"timeout: must be positive, is {timeout}")
            self._raw = _fedexec.Runtime.remote(
                specs, threads, default_clients,
                os.fspath(token_file) if token_file else "", bool(tls),
                os.fspath(tls_root_cert) if tls_root_cert else "",
                os.fspath(tls_client_cert) if tls_client_cert else "",
                os.fspath(tls_client_key) if tls_client_key else "",
                float(timeout))
            self.workers = tuple(a for a, _ in specs)

    def call(self, computation: ComputationLike, *args: Any,
             num_clients: Optional[int] = None, **kwargs: Any) -> Any:
        """Runs `computation` with Python arguments; returns Python values.

        Arguments follow the parameter type: numpy arrays (exact dtype) or
        Python scalars and lists for tensors; tuples, lists, dicts,
        namedtuples or attrs classes for structs; for ``{T}@CLIENTS`` a list
        with one value per client or an N x ... array (split by rows without
        a copy), for ``T@CLIENTS`` and ``T@SERVER`` the value itself; lists
        or any iterable for sequences. Several positional or keyword
        arguments fill a struct parameter.

        Results: tensors as read-only numpy arrays viewing fedexec's memory
        (numpy scalars for rank 0); structs in the argument's container
        class when their names match one, else dicts (named) or tuples;
        per-client values as lists.

        Args:
          computation: a Computation, fedexec text, a path, serialized proto
            bytes, or a federated_language computation.
          num_clients: the number of clients, overriding inference.

        Raises:
          TypeError: a Python object of the wrong kind for the parameter.
          InvalidArgumentError (a ValueError): fedexec rejects the argument
            or the computation.
          Error: the computation failed (CancelledError when cancelled).
        """
        comp = as_computation(computation)
        argument = _pack_arguments(comp, args, kwargs)
        containers = _convert.Containers()
        raw_arg = None
        if comp.parameter_type is not None:
            raw_arg = _convert.to_value(argument, comp.parameter_type,
                                        "argument", containers)
        result = self.call_value(comp, raw_arg, num_clients=num_clients)
        return _convert.from_value(result, containers=containers)

    def call_value(self, computation: ComputationLike,
                   argument: Optional[_fedexec.Value] = None, *,
                   num_clients: Optional[int] = None) -> _fedexec.Value:
        """Runs `computation` on a fedexec value; returns the fedexec value
        (for callers that convert themselves, such as the
        federated_language context)."""
        comp = as_computation(computation)
        if num_clients is not None and num_clients < 0:
            raise ValueError(f"num_clients: must be 0 or more, is "
                             f"{num_clients}")
        return self._raw.call(comp._raw, argument, num_clients)

    def cancel_running(self) -> None:
        """Cancels every call running now (from any thread): they raise
        CancelledError. Later calls run normally."""
        self._raw.cancel_running()

    @property
    def num_running(self) -> int:
        """The number of calls running now."""
        return self._raw.num_running

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._raw.closed

    def close(self) -> None:
        """Releases the runtime's threads and connections (cancelling calls
        still running). Idempotent; a closed runtime refuses calls."""
        self._raw.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = (f"workers={list(self.workers)}" if self.workers
                 else "in-process")
        state = ", closed" if self.closed else ""
        return f"<fedexec.Runtime {where}{state}>"


def _parse_workers(workers: WorkersLike) -> list:
    if isinstance(workers, str):
        entries: Iterable = [w for w in workers.split(",")]
    else:
        entries = workers
    specs = []
    for entry in entries:
        if isinstance(entry, tuple):
            address, capacity = entry
        else:
            address, capacity = entry, 0.0
        if not isinstance(address, str):
            raise TypeError(f"workers: expected 'host:port' strings, found "
                            f"{type(address).__name__}")
        address = address.strip()
        if not address:
            raise ValueError("workers: an empty entry")
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not (
                1 <= int(port) <= 65535):
            raise ValueError(f"workers: '{address}' is not host:port with a "
                             f"port in 1-65535")
        if any(a == address for a, _ in specs):
            raise ValueError(f"workers: '{address}' is given twice")
        specs.append((address, float(capacity)))
    if not specs:
        raise ValueError("workers: none given")
    return specs


def _read_workers_file(path: str) -> list:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ValueError(f"workers_file {path}: {e.strerror}") from None
    specs = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            capacity = float(parts[1]) if len(parts) > 1 else 0.0
            if len(parts) > 2 or capacity < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"workers_file {path}:{number}: expected "
                             f"'host:port [capacity]', found {line!r}") \
                from None
        specs.append((parts[0], capacity))
    return _parse_workers(specs)
