"""fedexec's leaves inside federated_language computations.

fedexec runs leaves that federated_language 0.5.4 does not know: a native
function from fedexec's registry (``native("name", T)`` in the text syntax;
field 1000 of fedexec's Computation proto). The package's proto has no field
for it and its ``from_proto`` rejects unknown kinds, so a fedexec leaf
travels inside the package's objects as a ``data`` building block:

    Data { content: Any { type_url: NATIVE_TYPE_URL,
                          value: NativeFunction { name } } }

with the leaf's function type as the block's type. federated_language
traces, serializes, deserializes and inlines such a block like any other
data. When fedexec receives a computation (``Computation.from_proto``, the
execution context, ``Runtime.call``), every such block becomes fedexec's
native leaf again, so the computation runs in-process and over workers (the
workers receive fedexec's own proto).

    add = fedexec.native("add", fl.FunctionType(
        fl.StructType([np.float32, np.float32]), np.float32))

    @fl.federated_computation(fl.FederatedType(np.float32, fl.CLIENTS))
    def doubled_sum(x):
        return fl.federated_sum(fl.federated_map(
            fl.federated_computation(lambda v: add(v, v), np.float32), x))
"""

from __future__ import annotations

from typing import Any

# The type URL of a packed fedexec native leaf (fedexec's
# federated_language.NativeFunction message: field 1, the name).
NATIVE_TYPE_URL = "type.googleapis.com/federated_language.NativeFunction"

# The tag of fedexec's Computation.native (field 1000, length-delimited).
_NATIVE_FIELD = 1000


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _native_function_bytes(name: str) -> bytes:
    return _length_delimited(1, name.encode("utf-8"))


def _fl_type(t: Any) -> Any:
    """A federated_language type from fedexec's type tuple (_fedexec.pyi)."""
    import federated_language as fl
    import numpy as np

    from fedexec._convert import numpy_dtype

    kind = t[0]
    if kind == "tensor":
        dtype = np.str_ if t[1] == "string" else numpy_dtype(t[1])
        return fl.TensorType(dtype, None if t[2] is None else list(t[2]))
    if kind == "struct":
        return fl.StructType([(n, _fl_type(e)) if n else _fl_type(e)
                              for n, e in t[1]])
    if kind == "sequence":
        return fl.SequenceType(_fl_type(t[1]))
    if kind == "federated":
        placement = fl.SERVER if t[1] == "SERVER" else fl.CLIENTS
        return fl.FederatedType(_fl_type(t[3]), placement, t[2])
    if kind == "function":
        return fl.FunctionType(None if t[1] is None else _fl_type(t[1]),
                               _fl_type(t[2]))
    raise TypeError(kind)


def _has_abstract(t: Any) -> bool:
    if not isinstance(t, tuple):
        return False
    return t[:1] == ("abstract",) or any(_has_abstract(e) for e in t)


def declared_type(name: str) -> Any:
    """The federated_language type of native function `name` as fedexec's
    registry declares it.

    Raises:
      NotFoundError: no such function (fedexec's message lists the names).
      TypeError: its signature is generic (abstract types, e.g. matmul's
        ``(<T, U> -> V)``): give the type to :func:`native` instead.
    """
    from fedexec import _fedexec

    signature, t = _fedexec.native_signature(name)
    if t is None or _has_abstract(t) or t[0] != "function":
        raise TypeError(f"native('{name}') is registered with the generic "
                        f"signature {signature}: give its concrete type, "
                        f"e.g. native('{name}', federated_language."
                        f"FunctionType(...))")
    return _fl_type(t)


def native(name: str, type_signature: Any = None) -> Any:
    """A federated_language computation that is fedexec's native function
    `name` (from fedexec's registry: the built-in kernels and the demos'
    functions, such as ``logreg_client_update``), of the function type its
    registration declares, or of `type_signature` (a
    ``federated_language.FunctionType``, or anything
    ``federated_language.to_type`` takes), which generic functions need.

    Use it inside ``@federated_language.federated_computation`` functions
    like any computation. It runs only on fedexec (the package's other
    contexts do not know the leaf).

    Raises:
      ValueError: an empty name.
      NotFoundError: no such function, when `type_signature` is not given
        (with a type, an unknown name is fedexec's error when it runs).
      TypeError: the type is not a function type, or none is given for a
        generic function.
    """
    import federated_language as fl
    from federated_language import framework
    from google.protobuf import any_pb2

    if not isinstance(name, str) or not name:
        raise ValueError(f"native: expected a function name, found {name!r}")
    fn_type = (declared_type(name) if type_signature is None
               else fl.to_type(type_signature))
    if not isinstance(fn_type, fl.FunctionType):
        raise TypeError(f"native('{name}'): expected a function type, found "
                        f"{fn_type}")
    content = any_pb2.Any(type_url=NATIVE_TYPE_URL,
                          value=_native_function_bytes(name))
    block = framework.Data(content, fn_type)
    return framework.ConcreteComputation.from_building_block(block)


def _rewrite(message: Any) -> bool:
    """Replaces, under `message` (a federated_language proto), every data
    block that packs a native leaf by fedexec's native leaf. Whether it
    replaced any."""
    from federated_language.proto import computation_pb2 as pb

    changed = False
    if isinstance(message, pb.Computation) and \
            message.WhichOneof("computation") == "data" and \
            message.data.content.type_url == NATIVE_TYPE_URL:
        # fedexec's Computation { type = 1; native = 1000 }: the package's
        # class keeps field 1000 as an unknown field and serializes it.
        leaf = (_length_delimited(1, message.type.SerializeToString()) +
                _length_delimited(_NATIVE_FIELD, message.data.content.value))
        message.Clear()
        message.MergeFromString(leaf)
        return True
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        repeated = getattr(field, "is_repeated", None)
        if (repeated if repeated is not None
                else field.label == field.LABEL_REPEATED):
            for item in value:
                changed = _rewrite(item) or changed
        else:
            changed = _rewrite(value) or changed
    return changed


def to_fedexec_proto(data: bytes) -> bytes:
    """A serialized federated_language Computation with its packed fedexec
    leaves unpacked (unchanged bytes when it has none)."""
    if NATIVE_TYPE_URL.encode() not in data:
        return data
    from federated_language.proto import computation_pb2 as pb

    proto = pb.Computation.FromString(data)
    if not _rewrite(proto):
        return data
    return proto.SerializeToString()
