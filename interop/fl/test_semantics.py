"""fedexec follows the rules of computations federated_language 0.5.4 traces.

Every computation here is traced and serialized by the federated_language
package itself (once per session), written to a .pb file and run by the
fedexec program (`fedexec run FILE.pb --arg ...`); results are checked
against numpy. federated_language has no tensor maths of its own, so the
leaf arithmetic (an aggregate's accumulate and merge, a select function)
is written with the package's generic_plus / generic_multiply intrinsics,
built as the package's own building blocks.

federated_secure_modular_sum is TFF 0.87's intrinsic, not
federated_language's: it is tested through fedexec's text syntax, in
process and over two fedexec workers.
"""

import pathlib
import re
from typing import Dict, List, Optional

import federated_language as fl
import numpy as np
import pytest
from federated_language import framework
from federated_language.federated_context import value_impl

from conftest import run_fedexec, start_fedexec_worker

CLIENTS = fl.CLIENTS
SERVER = fl.SERVER


# ------------------------------------------------------------------ helpers


def _generic(uri: str, a, b) -> value_impl.Value:
    """generic_plus / generic_multiply of two values of one type, as the
    package's own building blocks."""
    t = a.type_signature
    fn = framework.Intrinsic(uri, fl.FunctionType(fl.StructType([t, t]), t))
    return value_impl.Value(framework.Call(fn, framework.Struct([a.comp, b.comp])))


def _plus(a, b):
    return _generic("generic_plus", a, b)


def _times(a, b):
    return _generic("generic_multiply", a, b)


def _trace() -> Dict[str, fl.Computation]:
    """Every computation of this file, traced by federated_language."""
    comps = {}

    # Named parameters, called by the package through unnamed arguments.
    @fl.federated_computation(np.int32, np.int32)
    def add(acc, x):
        return _plus(acc, x)

    @fl.federated_computation(np.int32)
    def report(total):
        return total

    @fl.federated_computation(fl.FederatedType(np.int32, CLIENTS))
    def aggregate(values):
        return fl.federated_aggregate(values, np.int32(0), add, add, report)

    comps["aggregate"] = aggregate

    @fl.federated_computation(fl.SequenceType(np.int32))
    def reduce(seq):
        return fl.sequence_reduce(seq, np.int32(0), add)

    comps["sequence_reduce"] = reduce

    @fl.federated_computation(np.int32, np.int32)
    def scaled_key(table, key):
        return _times(table, key)

    @fl.federated_computation(
        fl.FederatedType(fl.TensorType(np.int32, [2]), CLIENTS),
        fl.FederatedType(np.int32, SERVER),
        fl.FederatedType(np.int32, SERVER),
    )
    def select(keys, max_key, table):
        return fl.federated_select(keys, max_key, table, scaled_key)

    comps["select"] = select

    @fl.federated_computation(
        fl.FederatedType(fl.TensorType(np.int32, [2]), CLIENTS),
        fl.FederatedType(np.int32, SERVER),
        fl.FederatedType(np.int32, SERVER),
    )
    def secure_select(keys, max_key, table):
        return fl.federated_secure_select(keys, max_key, table, scaled_key)

    comps["secure_select"] = secure_select

    client_int = fl.FederatedType(np.int32, CLIENTS)

    @fl.federated_computation(client_int, client_int, client_int)
    def nested_zip(x, y, z):
        return fl.federated_zip((x, (y, z)))

    comps["nested_zip"] = nested_zip

    @fl.federated_computation(
        fl.FederatedType(np.int32, SERVER),
        fl.FederatedType(np.int32, SERVER),
        fl.FederatedType(np.int32, SERVER),
    )
    def nested_zip_server(x, y, z):
        return fl.federated_zip((x, (y, z)))

    comps["nested_zip_server"] = nested_zip_server

    @fl.federated_computation((np.int32, (np.int32, np.int32)))
    def fma(p):
        return _plus(p[0], _times(p[1][0], p[1][1]))

    @fl.federated_computation(client_int, client_int, client_int)
    def map_nested(x, y, z):
        # The package zips (x, (y, z)) itself before mapping.
        return fl.federated_sum(fl.federated_map(fma, (x, (y, z))))

    comps["map_nested"] = map_nested

    @fl.federated_computation(fl.FederatedType(fl.TensorType(np.int32, [3]), CLIENTS))
    def bitwidth(v):
        return fl.federated_secure_sum_bitwidth(v, 8)

    comps["bitwidth"] = bitwidth

    @fl.federated_computation(fl.FederatedType(np.int8, CLIENTS))
    def bitwidth_int8(v):
        return fl.federated_secure_sum_bitwidth(v, 7)

    comps["bitwidth_int8"] = bitwidth_int8

    @fl.federated_computation(
        fl.FederatedType(fl.TensorType(np.float32, [3]), CLIENTS),
        fl.FederatedType(np.int32, CLIENTS),
    )
    def weighted_mean(x, w):
        return fl.federated_mean(x, weight=w)

    comps["weighted_mean"] = weighted_mean

    @fl.federated_computation(fl.FederatedType(np.float32, CLIENTS))
    def mean(x):
        return fl.federated_mean(x)

    comps["mean"] = mean
    return comps


@pytest.fixture(scope="session")
def pbs(tmp_path_factory) -> Dict[str, pathlib.Path]:
    """The traced computations, serialized to .pb files (once a session)."""
    folder = tmp_path_factory.mktemp("fl_semantics")
    out = {}
    for name, comp in _trace().items():
        path = folder / f"{name}.pb"
        path.write_bytes(comp.to_proto().SerializeToString())
        out[name] = path
    return out


@pytest.fixture(scope="module")
def workers():
    """Two fedexec workers: their addresses, comma-separated."""
    started = []
    try:
        for _ in range(2):
            started.append(start_fedexec_worker())
        yield ",".join(address for _, address in started)
    finally:
        for proc, _ in started:
            proc.stop()


def _run(path: pathlib.Path, *args: str, out: Optional[pathlib.Path] = None,
         extra: List[str] = ()) -> str:
    """Runs a computation; its printed result (or "" with `out`)."""
    argv = ["run", str(path)]
    for a in args:
        argv += ["--arg", a]
    if out is not None:
        argv += ["--out", str(out)]
    argv += list(extra)
    done = run_fedexec(*argv)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _fails(path: pathlib.Path, *args: str) -> str:
    """Runs a computation that must fail on bad input: its stderr."""
    argv = ["run", str(path)]
    for a in args:
        argv += ["--arg", a]
    done = run_fedexec(*argv)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    return done.stderr


def _clients(rows) -> str:
    """Per-client values in the value syntax: {v1, v2, ...}@CLIENTS."""
    def one(v):
        v = np.asarray(v)
        if v.ndim == 0:
            return repr(v.item())
        return "[" + ", ".join(one(x) for x in v) + "]"
    return "{" + ", ".join(one(r) for r in rows) + "}@CLIENTS"


def _npy(path: pathlib.Path, name: str, *args: str, **kwargs) -> np.ndarray:
    out = path.parent / f"{name}_result.npy"
    _run(path, *args, out=out, **kwargs)
    return np.load(out)


# ----------------------------------------------------- struct assignability


def test_aggregate_with_named_accumulate_and_merge(pbs):
    rng = np.random.default_rng(1)
    values = rng.integers(-1000, 1000, size=37).astype(np.int32)
    got = _npy(pbs["aggregate"], "aggregate", _clients(values))
    assert got.dtype == np.int32
    assert got == values.sum()


def test_sequence_reduce_with_a_named_operator(pbs):
    got = _npy(pbs["sequence_reduce"], "reduce", "seq[4, 5, -2, 10]")
    assert got == 17
    assert _npy(pbs["sequence_reduce"], "reduce", "seq[]") == 0


# ------------------------------------------------------------------ select


def _sequences(text: str) -> List[List[int]]:
    """The int sequences of a printed {seq[...], ...}@CLIENTS value."""
    assert text.startswith("{") and text.endswith("}@CLIENTS"), text
    return [[int(x) for x in re.findall(r"-?\d+", body)]
            for body in re.findall(r"seq\[([^\]]*)\]", text)]


def test_select_keys_lie_in_zero_to_max_key_inclusive(pbs):
    keys = np.array([[0, 4], [4, 4], [2, 1]], dtype=np.int32)
    printed = _run(pbs["select"], _clients(keys), "4@SERVER", "10@SERVER")
    assert _sequences(printed) == (10 * keys).tolist()
    err = _fails(pbs["select"], _clients([[0, 5], [1, 1]]), "4@SERVER",
                 "10@SERVER")
    assert "federated_select: client 0 has key 5, outside [0, 4]" in err
    err = _fails(pbs["select"], _clients([[0, 1], [-1, 1]]), "4@SERVER",
                 "10@SERVER")
    assert "client 1 has key -1, outside [0, 4]" in err


def test_secure_select_keys_lie_below_max_key(pbs):
    keys = np.array([[0, 3], [3, 1]], dtype=np.int32)
    printed = _run(pbs["secure_select"], _clients(keys), "4@SERVER", "7@SERVER")
    assert _sequences(printed) == (7 * keys).tolist()
    err = _fails(pbs["secure_select"], _clients([[0, 4], [1, 1]]), "4@SERVER",
                 "7@SERVER")
    assert "federated_secure_select: client 0 has key 4, outside [0, 4)" in err


# -------------------------------------------------------------------- zips


def test_one_zip_over_a_nested_struct(pbs):
    printed = _run(pbs["nested_zip"], "{1, 2}@CLIENTS", "{3, 4}@CLIENTS",
                   "{5, 6}@CLIENTS")
    assert printed == "{<1, <3, 5>>, <2, <4, 6>>}@CLIENTS"
    printed = _run(pbs["nested_zip_server"], "1@SERVER", "2@SERVER", "3@SERVER")
    assert printed == "<1, <2, 3>>@SERVER"


def test_federated_map_over_a_nested_tuple_of_client_values(pbs):
    rng = np.random.default_rng(2)
    x, y, z = (rng.integers(-100, 100, size=25).astype(np.int32)
               for _ in range(3))
    got = _npy(pbs["map_nested"], "map_nested", _clients(x), _clients(y),
               _clients(z))
    assert got == (x + y * z).sum()


def test_nested_zips_over_workers(pbs, workers):
    rng = np.random.default_rng(3)
    x, y, z = (rng.integers(-100, 100, size=40).astype(np.int32)
               for _ in range(3))
    got = _npy(pbs["map_nested"], "map_nested_workers", _clients(x),
               _clients(y), _clients(z), extra=["--workers", workers])
    assert got == (x + y * z).sum()


# -------------------------------------------------- secure sum with bit width


def test_secure_sum_bitwidth_is_the_exact_sum(pbs):
    rng = np.random.default_rng(4)
    values = rng.integers(0, 256, size=(50, 3)).astype(np.int32)
    got = _npy(pbs["bitwidth"], "bitwidth", _clients(values))
    assert got.dtype == np.int32
    # Not modulo 2^8: the sum's width grows with the number of clients.
    np.testing.assert_array_equal(got, values.sum(axis=0))
    assert (got >= 256).any()


def test_secure_sum_bitwidth_over_workers_is_the_same(pbs, workers):
    rng = np.random.default_rng(5)
    values = rng.integers(0, 256, size=(60, 3)).astype(np.int32)
    got = _npy(pbs["bitwidth"], "bitwidth_workers", _clients(values),
               extra=["--workers", workers])
    np.testing.assert_array_equal(got, values.sum(axis=0))


def test_secure_sum_bitwidth_rejects_values_outside_the_width(pbs):
    err = _fails(pbs["bitwidth"], _clients([[0, 1, 2], [3, 256, 4]]))
    assert "federated_secure_sum_bitwidth: client 1: value 256 at element 1 " \
           "is outside [0, 256) (bit width 8)" in err
    err = _fails(pbs["bitwidth"], _clients([[0, -1, 2]]))
    assert "value -1 at element 1 is outside [0, 256)" in err


def test_secure_sum_bitwidth_overflowing_the_dtype_is_an_error(pbs):
    # Each int8 value is in [0, 128); their sum, 200, does not fit int8.
    err = _fails(pbs["bitwidth_int8"], "{int8(100), int8(100)}@CLIENTS")
    assert "federated_secure_sum_bitwidth: the sum 200 does not fit int8" in err
    assert _npy(pbs["bitwidth_int8"], "int8_ok",
                "{int8(100), int8(27)}@CLIENTS") == 127


# ----------------------------------------------------------------- means


def test_weighted_mean_with_integer_weights(pbs):
    rng = np.random.default_rng(6)
    # Halves and small weights: the sums are exact in float32, so the mean
    # is float32(sum) / float32(total weight), correctly rounded.
    x = (rng.integers(-40, 40, size=(9, 3)) / 2).astype(np.float32)
    w = rng.integers(1, 20, size=9).astype(np.int32)
    got = _npy(pbs["weighted_mean"], "weighted_mean", _clients(x), _clients(w))
    assert got.dtype == np.float32
    want = (w[:, None] * x).sum(axis=0).astype(np.float32) / np.float32(w.sum())
    np.testing.assert_array_equal(got, want)
    err = _fails(pbs["weighted_mean"], _clients(x[:2]), "{1, -1}@CLIENTS")
    assert "federated_weighted_mean: client 1: weight -1 is negative" in err


def test_mean_of_seven_float32_clients_is_exact(pbs):
    got = _npy(pbs["mean"], "mean", _clients([1.5] * 7))
    assert got.dtype == np.float32
    assert got == np.float32(1.5)  # not 10.5f * (1/7)f = 1.5000001
    rng = np.random.default_rng(7)
    x = (rng.integers(-1000, 1000, size=7) / 4).astype(np.float32)
    got = _npy(pbs["mean"], "mean2", _clients(x))
    assert got == x.astype(np.float64).sum().astype(np.float32) / np.float32(7)


# ----------------------------------------- federated_secure_modular_sum (TFF)

MODULAR = "(v: {int32[3]}@CLIENTS) -> federated_secure_modular_sum(v, 7)\n"
MODULAR_PER_ELEMENT = (
    "(v: {int32[3]}@CLIENTS) -> federated_secure_modular_sum(v, [5, 7, 11])\n")


@pytest.fixture(scope="module")
def modular(tmp_path_factory) -> Dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("modular")
    out = {}
    for name, text in (("shared", MODULAR), ("per_element", MODULAR_PER_ELEMENT)):
        path = folder / f"{name}.fed"
        path.write_text(text)
        out[name] = path
    return out


def test_secure_modular_sum_through_the_text_syntax(modular):
    rng = np.random.default_rng(8)
    values = rng.integers(0, 7, size=(30, 3)).astype(np.int32)
    got = _npy(modular["shared"], "modular", _clients(values))
    np.testing.assert_array_equal(got, values.sum(axis=0) % 7)
    moduli = np.array([5, 7, 11])
    values = (rng.integers(0, 1 << 20, size=(30, 3)) % moduli).astype(np.int32)
    got = _npy(modular["per_element"], "modular_pe", _clients(values))
    np.testing.assert_array_equal(got, values.sum(axis=0) % moduli)


def test_secure_modular_sum_over_workers_is_the_same(modular, workers):
    rng = np.random.default_rng(9)
    values = rng.integers(0, 7, size=(70, 3)).astype(np.int32)
    got = _npy(modular["shared"], "modular_workers", _clients(values),
               extra=["--workers", workers])
    np.testing.assert_array_equal(got, values.sum(axis=0) % 7)


def test_secure_modular_sum_rejects_values_outside_zero_to_m(modular):
    err = _fails(modular["shared"], _clients([[0, 1, 2], [6, 7, 0]]))
    assert "federated_secure_modular_sum: client 1: value 7 at element 1 is " \
           "outside [0, 7)" in err
    err = _fails(modular["per_element"], _clients([[4, 6, 11]]))
    assert "value 11 at element 2 is outside [0, 11)" in err
