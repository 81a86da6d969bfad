"""fedexec as federated_language's execution context.

After ``fedexec.set_default_context(runtime)``, invoking a
``@federated_language.federated_computation`` function runs it on
`runtime`, taking and returning Python values by federated_language's
conventions: a list with one value per client for a ``{T}@CLIENTS``
parameter (or an N x ... numpy array, split by rows without a copy), the
value itself for ``T@SERVER`` and ``T@CLIENTS``; results in the containers
the computation's type records (namedtuples, attrs classes, dicts), lists for
per-client results, numpy arrays and numpy scalars for tensors.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from fedexec import _convert
from fedexec._runtime import Computation, Runtime

__all__ = ["ExecutionContext", "set_default_context"]

try:
    import federated_language as _fl
    from federated_language.common_libs import structure as _structure
    from federated_language.types import type_conversions as _conversions
    _SyncContext: Any = _fl.framework.SyncContext
except ImportError:  # the context needs federated_language; the rest not
    _fl = None
    _SyncContext = object


class ExecutionContext(_SyncContext):
    """A federated_language ``SyncContext`` that runs computations on a
    fedexec Runtime. Conversions of a computation are cached (by its
    serialized proto, at most ``cache_size`` of them)."""

    def __init__(self, runtime: Runtime, cache_size: int = 64) -> None:
        if _fl is None:
            raise ImportError("fedexec.ExecutionContext needs the "
                              "federated_language package")
        if not isinstance(runtime, Runtime):
            raise TypeError(f"expected a fedexec.Runtime, found "
                            f"{type(runtime).__name__}")
        self.runtime = runtime
        self._cache: dict = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _computation(self, comp: Any) -> Computation:
        to_proto = getattr(comp, "to_proto", None)
        if to_proto is None:
            raise TypeError(f"fedexec's context runs federated_language "
                            f"computations, not {type(comp).__name__}")
        key = to_proto().SerializeToString(deterministic=True)
        with self._lock:
            found = self._cache.get(key)
        if found is not None:
            return found
        converted = Computation.from_proto(key)
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = converted
        return converted

    def invoke(self, comp: Any, arg: Any) -> Any:
        """Runs `comp` (a federated_language computation) with `arg` (None
        when it takes none; structures as federated_language packs them)."""
        computation = self._computation(comp)
        raw_arg = None
        parameter = computation.parameter_type
        if parameter is not None:
            raw_arg = _convert.to_value(arg, parameter, "argument")
        elif arg is not None:
            raise TypeError(f"the computation {computation.type_signature} "
                            f"takes no argument")
        result = self.runtime.call_value(computation, raw_arg)
        value = _convert.from_value(
            result, make_struct=lambda items: _structure.Struct(items))
        result_type = comp.type_signature.result
        return _conversions.type_to_py_container(value, result_type)


def set_default_context(runtime: Optional[Runtime]) -> Optional[
        ExecutionContext]:
    """Makes `runtime` run every federated_language computation invoked
    from now on (federated_language's default context); None removes it.
    Returns the installed context."""
    if _fl is None:
        raise ImportError("set_default_context needs the federated_language "
                          "package")
    if runtime is None:
        _fl.framework.set_no_default_context()
        return None
    context = ExecutionContext(runtime)
    _fl.framework.set_default_context(context)
    return context
