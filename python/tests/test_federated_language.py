"""fedexec as federated_language's execution context: computations traced
by the package run on fedexec, with the package's own value conventions,
and every intrinsic's result matches numpy."""

import collections

import federated_language as fl
import numpy as np
import pytest
from federated_language import framework
from federated_language.federated_context import value_impl

import fedexec

CLIENTS, SERVER = fl.CLIENTS, fl.SERVER


def _generic(uri, a, b):
    """generic_plus / generic_multiply as the package's building blocks
    (federated_language has no tensor operations of its own)."""
    t = a.type_signature
    fn = framework.Intrinsic(uri, fl.FunctionType(fl.StructType([t, t]), t))
    return value_impl.Value(
        framework.Call(fn, framework.Struct([a.comp, b.comp])))


@fl.federated_computation(np.int32, np.int32)
def _add(a, b):
    return _generic("generic_plus", a, b)


@fl.federated_computation(np.float32, np.float32)
def _add_f32(a, b):
    return _generic("generic_plus", a, b)


@fl.federated_computation(np.int32)
def _report(total):
    return total


@fl.federated_computation(fl.SequenceType(np.int32))
def _seq_total(seq):
    return fl.sequence_reduce(seq, np.int32(0), _add)


@pytest.fixture(autouse=True)
def fedexec_context(runtime):
    fedexec.set_default_context(runtime)
    yield
    fedexec.set_default_context(None)


FLOATS = [1.5, -2.0, 4.25, 8.0]
INTS = [3, -7, 12, 0]


def test_federated_mean():
    @fl.federated_computation(fl.FederatedType(np.float32, CLIENTS))
    def mean(x):
        return fl.federated_mean(x)

    assert mean(FLOATS) == pytest.approx(np.mean(FLOATS))


def test_federated_weighted_mean():
    @fl.federated_computation(fl.FederatedType(np.float32, CLIENTS),
                              fl.FederatedType(np.float32, CLIENTS))
    def mean(x, w):
        return fl.federated_mean(x, w)

    weights = [1.0, 2.0, 3.0, 4.0]
    assert mean(FLOATS, weights) == pytest.approx(
        np.average(FLOATS, weights=weights))


def test_federated_sum_min_max():
    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def stats(x):
        return (fl.federated_sum(x), fl.federated_min(x),
                fl.federated_max(x))

    assert stats(INTS) == (np.sum(INTS), np.min(INTS), np.max(INTS))


def test_federated_broadcast_zip_and_map():
    @fl.federated_computation(fl.FederatedType(np.float32, SERVER),
                              fl.FederatedType(np.float32, CLIENTS))
    def shifted(s, x):
        return fl.federated_map(
            _add_f32, fl.federated_zip([x, fl.federated_broadcast(s)]))

    np.testing.assert_allclose(shifted(10.0, FLOATS),
                               np.asarray(FLOATS, np.float32) + 10.0)


def test_federated_value_and_eval():
    @fl.federated_computation(fl.FederatedType(np.int32, SERVER))
    def broadcast_sum(x):
        return fl.federated_sum(fl.federated_broadcast(x))

    assert broadcast_sum(5) == 5  # one client by default

    @fl.federated_computation()
    def at_server():
        return fl.federated_value(np.int32(7), SERVER)

    assert at_server() == 7


def test_federated_aggregate():
    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def total(x):
        return fl.federated_aggregate(x, np.int32(0), _add, _add, _report)

    assert total(INTS) == np.sum(INTS)


def test_sequence_reduce_at_the_clients():
    @fl.federated_computation(
        fl.FederatedType(fl.SequenceType(np.int32), CLIENTS))
    def total(datasets):
        return fl.federated_sum(fl.federated_map(_seq_total, datasets))

    data = [[1, 2, 3], [4], [], [5, 6]]
    assert total(data) == sum(sum(d) for d in data)


def test_secure_sum_bitwidth():
    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def secure(x):
        return fl.federated_secure_sum_bitwidth(x, 8)

    assert secure([1, 2, 200]) == 203


def test_structured_results_use_the_traced_containers():
    Stats = collections.namedtuple("Stats", ["total", "biggest"])

    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def stats(x):
        return Stats(total=fl.federated_sum(x), biggest=fl.federated_max(x))

    result = stats([1, 5, 2])
    assert result == Stats(8, 5) and type(result) is Stats


def test_per_client_results_are_lists():
    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def identity(x):
        return x

    assert identity([4, 5, 6]) == [4, 5, 6]


def test_client_values_in_bulk():
    @fl.federated_computation(fl.FederatedType(np.float32, CLIENTS))
    def mean(x):
        return fl.federated_mean(x)

    values = np.arange(10_000, dtype=np.float32)
    assert mean(values) == pytest.approx(values.mean())


def test_a_traced_computation_also_runs_directly(runtime):
    @fl.federated_computation(fl.FederatedType(np.float32, CLIENTS))
    def mean(x):
        return fl.federated_mean(x)

    comp = fedexec.Computation.from_federated_language(mean)
    assert comp.type_signature == "({float32}@CLIENTS -> float32@SERVER)"
    assert runtime.call(mean, [1.0, 3.0]) == 2.0


@fl.federated_computation(np.int32, np.int32)
def _scaled_key(table, key):
    """The select function: the server's table times the key (the package
    has no gather of its own; a product shows which key was used)."""
    return _generic("generic_multiply", table, key)


_SELECT_PARAMETERS = (fl.FederatedType(fl.TensorType(np.int32, [3]), CLIENTS),
                      fl.FederatedType(np.int32, SERVER),
                      fl.FederatedType(np.int32, SERVER))


@fl.federated_computation(*_SELECT_PARAMETERS)
def _select(keys, max_key, table):
    return fl.federated_select(keys, max_key, table, _scaled_key)


@fl.federated_computation(*_SELECT_PARAMETERS)
def _secure_select(keys, max_key, table):
    return fl.federated_secure_select(keys, max_key, table, _scaled_key)


def _as_lists(per_client):
    return [[int(v) for v in sequence] for sequence in per_client]


def test_federated_select():
    keys = np.array([[0, 4, 2], [4, 4, 4], [1, 0, 3], [2, 2, 0]], np.int32)
    result = _select(keys, 4, 10)  # keys in [0, max_key]
    assert len(result) == len(keys)
    assert _as_lists(result) == (10 * keys).tolist()
    with pytest.raises(fedexec.InvalidArgumentError,
                       match=r"client 1 has key 5, outside \[0, 4\]"):
        _select([[0, 1, 2], [5, 1, 1]], 4, 10)


def test_federated_secure_select():
    keys = np.array([[0, 3, 1], [3, 3, 2]], np.int32)
    result = _secure_select(keys, 4, 7)  # keys in [0, max_key)
    assert _as_lists(result) == (7 * keys).tolist()
    with pytest.raises(fedexec.InvalidArgumentError,
                       match=r"client 0 has key 4, outside \[0, 4\)"):
        _secure_select([[0, 4, 1], [1, 1, 1]], 4, 7)


@fl.federated_computation(np.int32)
def _twice(x):
    return _generic("generic_plus", x, x)


def test_federated_eval_at_server_and_clients():
    @fl.federated_computation()
    def seven():
        return np.int32(7)

    @fl.federated_computation()
    def evaluated():
        return (fl.federated_eval(seven, SERVER),
                fl.federated_sum(fl.federated_eval(seven, CLIENTS)))

    assert tuple(evaluated()) == (7, 7)  # one client by default


def test_federated_secure_sum():
    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def secure(x):
        return fl.federated_secure_sum(x, 255)

    assert secure(INTS[:1] + [200, 5]) == np.sum(INTS[:1] + [200, 5])


def test_sequence_map_and_sequence_sum():
    @fl.federated_computation(
        fl.FederatedType(fl.SequenceType(np.int32), CLIENTS))
    def doubled_totals(datasets):
        return fl.federated_map(fl.federated_computation(
            lambda s: fl.sequence_sum(fl.sequence_map(_twice, s)),
            fl.SequenceType(np.int32)), datasets)

    data = [[1, 2, 3], [4], [], [5, -6]]
    assert [int(v) for v in doubled_totals(data)] == [
        int(2 * np.sum(np.array(d, np.int32))) for d in data]
