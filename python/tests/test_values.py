"""Python values in and out: every dtype, scalars, structs (names kept and
given back in the same container), federated values and sequences."""

import collections

import attrs
import ml_dtypes
import numpy as np
import pytest

import fedexec

DTYPES = {
    "bool": np.array([True, False, True]),
    "int8": np.array([-128, 0, 127], np.int8),
    "int16": np.array([-32768, 1, 32767], np.int16),
    "int32": np.array([-2**31, 2, 2**31 - 1], np.int32),
    "int64": np.array([-2**63, 3, 2**63 - 1], np.int64),
    "uint8": np.array([0, 1, 255], np.uint8),
    "uint16": np.array([0, 1, 65535], np.uint16),
    "uint32": np.array([0, 1, 2**32 - 1], np.uint32),
    "uint64": np.array([0, 1, 2**64 - 1], np.uint64),
    "float16": np.array([0.1, -0.0, 65504.0], np.float16),
    "bfloat16": np.array([0.5, -2.0, 3.0e38], ml_dtypes.bfloat16),
    "float32": np.array([1.5, np.nan, -np.inf], np.float32),
    "float64": np.array([1e300, -0.0, np.pi], np.float64),
    "complex64": np.array([1 + 2j, -0.5j, 3], np.complex64),
    "complex128": np.array([1e200 + 1j, 0, -1j], np.complex128),
}


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_every_dtype_round_trips_bit_for_bit(runtime, dtype):
    array = DTYPES[dtype]
    result = runtime.call(f"(x: {dtype}[3]) -> x", array)
    assert isinstance(result, np.ndarray)
    assert result.dtype == array.dtype and result.shape == (3,)
    assert result.tobytes() == array.tobytes()


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_rank_zero_results_are_numpy_scalars(runtime, dtype):
    element = DTYPES[dtype][1]
    result = runtime.call(f"(x: {dtype}) -> x", element)
    assert isinstance(result, np.generic)
    assert result.dtype == DTYPES[dtype].dtype
    assert np.asarray(result).tobytes() == np.asarray(element).tobytes()


def test_python_scalars_take_the_parameter_dtype(runtime):
    assert runtime.call("(x: float32) -> x", 2) == np.float32(2.0)
    assert runtime.call("(x: float32) -> x", 2.5).dtype == np.float32
    assert runtime.call("(x: int64) -> x", 2**40) == 2**40
    flag = runtime.call("(x: bool) -> x", True)
    assert isinstance(flag, np.bool_) and flag
    assert runtime.call("(x: complex64) -> x", 1 + 1j) == np.complex64(1 + 1j)


def test_nested_lists_make_tensors(runtime):
    result = runtime.call("(x: int32[2,2]) -> x", [[1, 2], [3, 4]])
    np.testing.assert_array_equal(result, np.array([[1, 2], [3, 4]]))
    assert result.dtype == np.int32


def test_strings_come_back_as_bytes(runtime):
    assert runtime.call("(x: string) -> x", "héllo") == "héllo".encode()
    assert runtime.call("(x: string) -> x", b"\x00\xff") == b"\x00\xff"
    result = runtime.call("(x: string[2]) -> x", np.array(["a", "bc"]))
    assert result.dtype == object and list(result) == [b"a", b"bc"]


def test_unnamed_structs_are_tuples(runtime):
    result = runtime.call("(x: <int32,float32>) -> x", (1, 2.0))
    assert result == (1, 2.0) and type(result) is tuple
    assert runtime.call("(x: <int32,float32>) -> x", [1, 2.0]) == (1, 2.0)


def test_named_structs_are_dicts_in_the_type_order(runtime):
    result = runtime.call("(x: <a=int32,b=float32>) -> x", {"b": 2.0, "a": 1})
    assert result == {"a": 1, "b": 2.0}
    assert list(result) == ["a", "b"]


Point = collections.namedtuple("Point", ["a", "b"])


@attrs.define
class Pair:
    a: int
    b: float


def test_namedtuples_come_back_as_the_same_class(runtime):
    result = runtime.call("(x: <a=int32,b=float32>) -> x", Point(1, 2.5))
    assert type(result) is Point and result == Point(1, np.float32(2.5))


def test_attrs_classes_come_back_as_the_same_class(runtime):
    result = runtime.call("(x: <a=int32,b=float32>) -> x", Pair(1, 2.5))
    assert type(result) is Pair and result.a == 1 and result.b == 2.5


def test_nested_structs_keep_their_names(runtime):
    result = runtime.call(
        "(s: <a=<b=int32,c=float32[2]>,d=bool>) -> s",
        {"a": {"b": 7, "c": [1.0, 2.0]}, "d": False})
    assert result["a"]["b"] == 7 and result["d"] == np.False_
    np.testing.assert_array_equal(result["a"]["c"], [1.0, 2.0])


def test_several_arguments_fill_a_struct_parameter(runtime):
    comp = "(p: <a=int32,b=int32>) -> generic_plus(p.a, p.b)"
    assert runtime.call(comp, 2, 3) == 5
    assert runtime.call(comp, a=2, b=3) == 5
    assert runtime.call(comp, 2, b=3) == 5


def test_server_values_are_given_as_themselves(runtime):
    assert runtime.call("(x: float32@SERVER) -> x", 1.5) == 1.5


def test_per_client_values_are_lists(runtime):
    result = runtime.call("(x: {int32}@CLIENTS) -> x", [1, 2, 3])
    assert result == [1, 2, 3]


def test_all_equal_client_values_are_one_value(runtime):
    comp = "(x: int32@CLIENTS) -> federated_sum(x)"
    assert runtime.call(comp, 4, num_clients=3) == 12


def test_per_client_struct_values(runtime):
    result = runtime.call(
        "(x: {<a=int32,b=float32>}@CLIENTS) -> x",
        [Point(1, 2.0), Point(3, 4.0)])
    assert result == [Point(1, 2.0), Point(3, 4.0)]


def test_sequences_from_lists_and_iterables(runtime):
    comp = ("(ds: int32*) -> sequence_reduce(ds, 0, (p: <int32,int32>) -> "
            "generic_plus(p[0], p[1]))")
    assert runtime.call(comp, [1, 2, 3]) == 6
    assert runtime.call(comp, (i for i in range(5))) == 10
    assert runtime.call(comp, range(4)) == 6
    assert runtime.call("(ds: int32*) -> ds", [5, 6]) == [5, 6]


def test_client_datasets(runtime):
    comp = ("(datasets: {int32*}@CLIENTS) -> federated_sum(federated_map("
            "(ds: int32*) -> sequence_reduce(ds, 0, (p: <int32,int32>) -> "
            "generic_plus(p[0], p[1])), datasets))")
    assert runtime.call(comp, [[1, 2], [3], []]) == 6


def test_computations_without_parameter(runtime):
    assert runtime.call("() -> 3") == 3
