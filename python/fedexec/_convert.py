"""Python objects <-> fedexec values, directed by the computation's type.

Types arrive from the extension as nested tuples (see _fedexec.pyi):
("tensor", dtype, dims or None), ("struct", ((name, type), ...)),
("sequence", element), ("federated", placement, all_equal, member),
("function", parameter, result), ("placement",), ("abstract", label).

The memory contract (docs/python.md, "Zero-copy"):
- a C-contiguous numpy array of the exact dtype, aligned to its element, that
  is read-only (``a.flags.writeable`` False) enters without a copy: the
  tensor views its memory and keeps it alive;
- a writable array is copied once, so that later writes by the caller never
  change what fedexec computes on;
- arrays fedexec makes from Python scalars and lists are not copied again;
- results are read-only arrays over fedexec's buffers, keeping them alive.
"""

from __future__ import annotations

import collections.abc
import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from fedexec import _fedexec

_RawValue = _fedexec.Value

_NUMPY_NAMES = {
    "float32": "float32", "float64": "float64", "float16": "float16",
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
    "uint64": "uint64", "bool": "bool", "complex64": "complex64",
    "complex128": "complex128",
}


_NUMPY_DTYPES: dict = {}


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a fedexec dtype name (bfloat16 from ml_dtypes)."""
    found = _NUMPY_DTYPES.get(dtype)
    if found is None:
        found = _NUMPY_DTYPES[dtype] = _numpy_dtype(dtype)
    return found


def _numpy_dtype(dtype: str) -> np.dtype:
    if dtype == "bfloat16":
        import ml_dtypes  # federated_language's own dependency
        return np.dtype(ml_dtypes.bfloat16)
    if dtype == "string":
        return np.dtype(object)
    return np.dtype(_NUMPY_NAMES[dtype])


def fedexec_dtype(dtype: np.dtype) -> Optional[str]:
    """The fedexec dtype name of a numpy dtype; None if fedexec has none."""
    dtype = np.dtype(dtype)
    if dtype.kind in "USO":
        return "string"
    if dtype.name in _NUMPY_NAMES:
        return dtype.name
    if dtype.name == "bfloat16":
        return "bfloat16"
    return None


def type_string(t: Any) -> str:
    """The text notation of a type tuple (as fedexec prints types)."""
    kind = t[0]
    if kind == "tensor":
        dims = t[2]
        if dims is None:
            return f"{t[1]}[*]"
        if not dims:
            return t[1]
        return t[1] + "[" + ",".join("?" if d is None else str(d)
                                     for d in dims) + "]"
    if kind == "struct":
        return "<" + ",".join(
            (f"{n}={type_string(e)}" if n else type_string(e))
            for n, e in t[1]) + ">"
    if kind == "sequence":
        return type_string(t[1]) + "*"
    if kind == "federated":
        member = type_string(t[3])
        return (f"{member}@{t[1]}" if t[2] else f"{{{member}}}@{t[1]}")
    if kind == "function":
        param = "" if t[1] is None else type_string(t[1])
        return f"({param} -> {type_string(t[2])})"
    if kind == "placement":
        return "placement"
    return str(t[1])


def _describe(obj: Any) -> str:
    if isinstance(obj, np.ndarray):
        return f"a {obj.dtype} array of shape {list(obj.shape)}"
    return f"a {type(obj).__name__}"


# ---------------------------------------------------------------- to fedexec


@dataclasses.dataclass
class Containers:
    """Struct container classes seen in an argument, by their names, so that
    results with the same names come back in the same class."""
    by_names: Dict[Tuple[str, ...], type] = dataclasses.field(
        default_factory=dict)


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _attrs_fields(obj: Any):
    fields = getattr(type(obj), "__attrs_attrs__", None)
    return None if fields is None else [f.name for f in fields]


def _struct_items(obj: Any, path: str, containers: Containers):
    """(name or None, element) pairs of a Python struct-like object."""
    try:  # federated_language's own struct
        from federated_language.common_libs import structure
        if isinstance(obj, structure.Struct):
            return list(structure.iter_elements(obj))
    except ImportError:
        pass
    if _is_namedtuple(obj):
        containers.by_names.setdefault(tuple(obj._fields), type(obj))
        return list(zip(obj._fields, obj))
    names = _attrs_fields(obj)
    if names is not None:
        containers.by_names.setdefault(tuple(names), type(obj))
        return [(n, getattr(obj, n)) for n in names]
    if isinstance(obj, collections.abc.Mapping):
        if type(obj) is not dict:
            containers.by_names.setdefault(tuple(obj.keys()), type(obj))
        return list(obj.items())
    if isinstance(obj, (list, tuple)):
        return [(None, e) for e in obj]
    raise TypeError(f"{path}: expected a struct (a tuple, list, dict, "
                    f"namedtuple or attrs class), found {_describe(obj)}")


def _tensor_from_array(array: np.ndarray, dtype: str, share: bool) -> _RawValue:
    if dtype == "string":
        flat = [e.encode("utf-8") if isinstance(e, str) else bytes(e)
                for e in array.reshape(-1).tolist()]
        return _RawValue.from_strings(flat, list(array.shape))
    np_dtype = numpy_dtype(dtype)
    if array.dtype != np_dtype:
        raise AssertionError("caller checks the dtype")
    element = np_dtype.itemsize
    align = element // 2 if np_dtype.kind == "c" else element
    if (not array.flags.c_contiguous or
            (align > 1 and array.size and array.ctypes.data % align)):
        array = np.ascontiguousarray(array)  # a fresh copy, ours to share
        share = True
    flat = array.reshape(-1).view(np.uint8)
    return _RawValue.tensor(flat, dtype, list(array.shape), share)


def _tensor(obj: Any, t: Any, path: str) -> _RawValue:
    dtype = t[1]
    if isinstance(obj, _RawValue):
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        found = fedexec_dtype(array.dtype)
        if found != dtype:
            raise TypeError(
                f"{path}: expected {type_string(t)}, found "
                f"{_describe(array)} (numpy arrays are not converted: "
                f"cast with .astype(numpy.{numpy_dtype(dtype).name}))")
        if dtype == "string":
            return _tensor_from_array(array, dtype, True)
        # np.generic scalars are fresh copies; arrays are shared only when
        # read-only.
        share = isinstance(obj, np.generic) or not obj.flags.writeable
        return _tensor_from_array(array, dtype, share)
    # Python scalars and (nested) lists.
    if dtype == "string":
        array = np.asarray(obj, dtype=object)
        for e in array.reshape(-1).tolist():
            if not isinstance(e, (str, bytes)):
                raise TypeError(f"{path}: expected {type_string(t)}, found "
                                f"{_describe(e)} element")
        return _tensor_from_array(array, dtype, True)
    _check_python_elements(obj, dtype, t, path)
    try:
        array = np.asarray(obj, dtype=numpy_dtype(dtype))
    except (OverflowError, ValueError) as e:
        raise ValueError(f"{path}: {obj!r} is not a {type_string(t)}: {e}") \
            from None
    return _tensor_from_array(array, dtype, True)


def _check_python_elements(obj: Any, dtype: str, t: Any, path: str) -> None:
    def check(e: Any) -> None:
        if isinstance(e, (list, tuple)):
            for x in e:
                check(x)
            return
        if dtype == "bool":
            ok = isinstance(e, (bool, np.bool_))
        elif dtype.startswith(("int", "uint")):
            ok = (isinstance(e, (int, np.integer)) and
                  not isinstance(e, (bool, np.bool_)))
        elif dtype.startswith("complex"):
            ok = isinstance(e, (int, float, complex, np.number)) and \
                not isinstance(e, bool)
        else:
            ok = isinstance(e, (int, float, np.integer, np.floating)) and \
                not isinstance(e, bool)
        if not ok:
            raise TypeError(f"{path}: expected {type_string(t)}, found "
                            f"{_describe(e)}")
    check(obj)


def _rows(array: np.ndarray, member: Any, path: str, as_: str) -> _RawValue:
    dtype = member[1]
    found = fedexec_dtype(array.dtype)
    if found != dtype:
        raise TypeError(f"{path}: expected rows of {type_string(member)}, "
                        f"found {_describe(array)}")
    if dtype == "string":
        items = [_tensor_from_array(row, dtype, True) for row in array]
        if as_ == "clients":
            return _RawValue.federated("CLIENTS", False, items)
        return _RawValue.sequence(items)
    share = not array.flags.writeable
    if not array.flags.c_contiguous or (
            array.size and array.ctypes.data % max(
                1, array.dtype.itemsize // (2 if array.dtype.kind == "c"
                                            else 1))):
        array = np.ascontiguousarray(array)
        share = True
    flat = array.reshape(-1).view(np.uint8)
    return _RawValue.rows(flat, dtype, list(array.shape), share, as_)


def _is_rows(obj: Any, member: Any) -> bool:
    """Whether obj is an N x ... array of `member` tensors."""
    if not isinstance(obj, np.ndarray) or member[0] != "tensor":
        return False
    dims = member[2]
    rank = obj.ndim - 1
    return rank >= 0 and (dims is None or len(dims) == rank)


def to_value(obj: Any, t: Any, path: str = "argument",
             containers: Optional[Containers] = None) -> _RawValue:
    """Converts a Python object to a fedexec value of type `t`."""
    if containers is None:
        containers = Containers()
    if isinstance(obj, _RawValue):
        return obj
    kind = t[0]
    if kind == "tensor":
        return _tensor(obj, t, path)
    if kind == "struct":
        items = _struct_items(obj, path, containers)
        elements = t[1]
        if len(items) != len(elements):
            raise ValueError(
                f"{path}: expected {len(elements)} elements "
                f"({type_string(t)}), found {len(items)}")
        if items and all(n is not None for n, _ in items) and all(
                n is not None for n, _ in elements):
            by_name = dict(items)
            if set(by_name) != {n for n, _ in elements}:
                raise ValueError(
                    f"{path}: expected the names "
                    f"{[n for n, _ in elements]}, found {list(by_name)}")
            items = [(n, by_name[n]) for n, _ in elements]
        out = []
        for i, ((name, elem), (tname, et)) in enumerate(zip(items, elements)):
            label = tname or name
            sub = f"{path}.{label}" if label else f"{path}[{i}]"
            out.append((tname or name, to_value(elem, et, sub, containers)))
        return _RawValue.struct(out)
    if kind == "sequence":
        element = t[1]
        if _is_rows(obj, element):
            return _rows(obj, element, path, "sequence")
        if isinstance(obj, (str, bytes, collections.abc.Mapping)) or not \
                isinstance(obj, collections.abc.Iterable):
            raise TypeError(f"{path}: expected a sequence ({type_string(t)}:"
                            f" a list or any iterable), found {_describe(obj)}")
        return _RawValue.sequence([
            to_value(e, element, f"{path}[{i}]", containers)
            for i, e in enumerate(obj)])
    if kind == "federated":
        placement, all_equal, member = t[1], t[2], t[3]
        if all_equal or placement == "SERVER":
            return _RawValue.federated(
                placement, all_equal,
                [to_value(obj, member, f"{path}@{placement}", containers)])
        if _is_rows(obj, member):
            return _rows(obj, member, path, "clients")
        if not isinstance(obj, (list, tuple)):
            raise TypeError(
                f"{path}: expected one value per client ({type_string(t)}: a "
                f"list, or an array of N rows), found {_describe(obj)}")
        return _RawValue.federated(placement, False, [
            to_value(e, member, f"{path}[client {i}]", containers)
            for i, e in enumerate(obj)])
    raise TypeError(f"{path}: a parameter of type {type_string(t)} cannot be "
                    f"given from Python")


# ---------------------------------------------------------------- from fedexec


def tensor_to_numpy(value: _RawValue) -> Any:
    """A read-only numpy array over a result tensor (a numpy scalar or
    bytes when it has rank 0)."""
    dtype, shape = value.dtype, tuple(value.shape)
    if dtype == "string":
        strings = value.strings()
        if not shape:
            return strings[0]
        array = np.empty(len(strings), dtype=object)
        array[:] = strings
        array = array.reshape(shape)
        array.flags.writeable = False
        return array
    np_dtype = numpy_dtype(dtype)
    count = 1
    for d in shape:
        count *= d
    if count == 0:
        array = np.zeros(shape, dtype=np_dtype)
    else:
        array = np.frombuffer(value.buffer(), dtype=np_dtype).reshape(shape)
    if not shape:
        return array[()]
    array.flags.writeable = False
    return array


def from_value(value: _RawValue,
               make_struct: Optional[Callable[[list], Any]] = None,
               containers: Optional[Containers] = None) -> Any:
    """Converts a fedexec value to Python objects.

    Tensors become read-only numpy arrays (numpy scalars for rank 0, bytes
    for string scalars); structs go through `make_struct` when given, else
    come back in the argument's container class with the same names, a dict
    when all elements are named, a tuple when none is, and a list of
    (name, value) pairs otherwise; per-client values are lists, all-equal
    and server values their one member; sequences lists.
    """
    kind = value.kind
    if kind == "tensor":
        return tensor_to_numpy(value)
    if kind == "struct":
        items = [(n, from_value(v, make_struct, containers))
                 for n, v in value.elements()]
        if make_struct is not None:
            return make_struct(items)
        names = tuple(n for n, _ in items)
        if items and all(n is not None for n in names):
            cls = containers.by_names.get(names) if containers else None
            if cls is not None:
                if issubclass(cls, tuple):
                    return cls(*(v for _, v in items))
                if isinstance(cls, type) and issubclass(
                        cls, collections.abc.Mapping):
                    return cls(items)
                return cls(**dict(items))
            return dict(items)
        if all(n is None for n in names):
            return tuple(v for _, v in items)
        return list(items)
    if kind == "sequence":
        return [from_value(v, make_struct, containers)
                for v in value.members()]
    if kind == "federated":
        members = [from_value(v, make_struct, containers)
                   for v in value.members()]
        if value.all_equal or value.placement == "SERVER":
            return members[0] if members else None
        return members
    raise TypeError(f"a {kind} result cannot be given to Python")
