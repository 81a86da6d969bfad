"""Zero-copy both ways, proved by buffer addresses, and the contract for
arrays the caller may write to: shared only when read-only, copied
otherwise."""

import resource

import numpy as np
import pytest

import fedexec
from fedexec import _convert


def _address(array):
    return array.__array_interface__["data"][0]


def _read_only(array):
    array.flags.writeable = False
    return array


def test_a_read_only_array_enters_without_a_copy():
    array = _read_only(np.arange(1000, dtype=np.float32))
    value = _convert.to_value(array, ("tensor", "float32", (1000,)))
    assert value.address == _address(array)


def test_a_writable_array_is_copied_so_later_writes_do_not_show():
    array = np.arange(1000, dtype=np.float32)
    value = _convert.to_value(array, ("tensor", "float32", (1000,)))
    assert value.address != _address(array)
    array[:] = -1
    result = _convert.from_value(value)
    np.testing.assert_array_equal(result, np.arange(1000, dtype=np.float32))


def test_the_result_of_an_identity_is_the_input_buffer(runtime):
    array = _read_only(np.arange(4096, dtype=np.int64))
    result = runtime.call("(x: int64[4096]) -> x", array)
    assert _address(result) == _address(array)


def test_results_are_read_only_and_keep_the_tensor_alive(runtime):
    result = runtime.call("(x: float32[3]) -> generic_plus(x, x)",
                          [1.0, 2.0, 3.0])
    assert not result.flags.writeable
    with pytest.raises(ValueError):
        result[0] = 5
    view = result[1:]
    del result
    np.testing.assert_array_equal(view, [4.0, 6.0])


def test_the_input_array_is_held_while_fedexec_uses_it():
    array = _read_only(np.arange(10, dtype=np.float64))
    value = _convert.to_value(array, ("tensor", "float64", (10,)))
    del array  # the value keeps the memory alive
    np.testing.assert_array_equal(_convert.from_value(value), np.arange(10.0))


def test_client_rows_are_views_into_one_array(runtime):
    clients = _read_only(np.arange(12, dtype=np.float32).reshape(4, 3))
    value = _convert.to_value(
        clients, ("federated", "CLIENTS", False, ("tensor", "float32", (3,))))
    members = value.members()
    assert len(members) == 4
    for i, member in enumerate(members):
        assert member.address == _address(clients) + i * 12
    result = runtime.call("(x: {float32[3]}@CLIENTS) -> x", clients)
    assert [_address(r) for r in result] == [
        _address(clients) + i * 12 for i in range(4)]


def test_a_million_scalar_clients_in_one_array(runtime):
    values = _read_only(np.arange(1_000_000, dtype=np.float32) % 7)
    mean = runtime.call("(x: {float32}@CLIENTS) -> federated_mean(x)",
                        values)
    assert mean == pytest.approx(float(values.mean(dtype=np.float64)),
                                 rel=1e-5)


def test_a_writable_client_array_is_copied_once(runtime):
    clients = np.ones((3, 2), dtype=np.int32)
    value = _convert.to_value(
        clients, ("federated", "CLIENTS", False, ("tensor", "int32", (2,))))
    first = value.members()[0].address
    assert first != _address(clients)
    assert [m.address - first for m in value.members()] == [0, 8, 16]


def test_non_contiguous_arrays_are_copied(runtime):
    array = _read_only(np.arange(20, dtype=np.float32))[::2]
    result = runtime.call("(x: float32[10]) -> x", array)
    np.testing.assert_array_equal(result, np.arange(0, 20, 2))
    assert _address(result) != _address(array)


def test_a_large_array_passes_without_doubling_peak_memory(runtime):
    size = 256 * 2**20  # 256 MiB (the 1 GB scales the same)
    array = np.ones(size // 8, dtype=np.float64)
    array.flags.writeable = False
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = runtime.call(f"(x: float64[{size // 8}]) -> x", array)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert _address(result) == _address(array)
    assert after - before < size // 4, (before, after)
