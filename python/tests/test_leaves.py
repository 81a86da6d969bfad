"""fedexec's native leaves inside federated_language computations: made by
fedexec.native, traced, serialized and deserialized by the package, run by
fedexec in-process and over workers."""

import federated_language as fl
import numpy as np
import pytest
from federated_language import framework
from federated_language.proto import computation_pb2 as pb

import fedexec
from fedexec import leaves

F32 = np.float32
ADD = fl.FunctionType(fl.StructType([F32, F32]), F32)


def _doubled_sum():
    add = fedexec.native("add", ADD)

    @fl.federated_computation(F32)
    def double(v):
        return add(v, v)

    @fl.federated_computation(fl.FederatedType(F32, fl.CLIENTS))
    def doubled_sum(x):
        return fl.federated_sum(fl.federated_map(double, x))

    return doubled_sum


def _through_the_package(comp):
    """The computation serialized, parsed and rebuilt by federated_language
    (its from_proto accepts the packed leaf: a data block)."""
    data = comp.to_proto().SerializeToString()
    proto = pb.Computation.FromString(data)
    rebuilt = framework.ConcreteComputation.from_proto(proto)
    assert rebuilt.type_signature == comp.type_signature
    return rebuilt


def test_native_is_a_computation_of_the_declared_type():
    add = fedexec.native("add", ADD)
    assert add.type_signature == ADD
    proto = add.to_proto()
    assert proto.WhichOneof("computation") == "data"
    assert proto.data.content.type_url == leaves.NATIVE_TYPE_URL


def test_a_traced_computation_with_a_native_leaf_runs_in_process(runtime):
    comp = _through_the_package(_doubled_sum())
    values = np.array([1.5, 2.0, -4.0], F32)
    assert runtime.call(comp, values) == pytest.approx(2 * values.sum())
    # fedexec sees its own leaf, not a data block.
    text = fedexec.Computation.from_federated_language(comp).to_text()
    assert 'native("add"' in text and "data" not in text


def test_under_fedexecs_context(runtime):
    fedexec.set_default_context(runtime)
    try:
        assert _doubled_sum()([1.0, 2.0]) == 6.0
    finally:
        fedexec.set_default_context(None)


def test_over_two_workers(remote_runtime):
    comp = _through_the_package(_doubled_sum())
    values = np.arange(10, dtype=F32)
    assert remote_runtime.call(comp, values) == pytest.approx(
        2 * values.sum())


def test_bad_leaves():
    with pytest.raises(ValueError, match="expected a function name"):
        fedexec.native("", ADD)
    with pytest.raises(TypeError, match="expected a function type"):
        fedexec.native("add", F32)


def test_an_unknown_native_is_fedexecs_error_naming_it(runtime):
    nothing = fedexec.native("no_such_function", ADD)

    @fl.federated_computation(F32)
    def call_it(v):
        return nothing(v, v)

    with pytest.raises(fedexec.InvalidArgumentError,
                       match="unknown native function 'no_such_function'"):
        runtime.call(call_it, 1.0)


def test_the_declared_type_comes_from_fedexecs_registry():
    update = fedexec.native("analytics_histogram")
    assert update.type_signature == fl.FunctionType(
        F32, fl.TensorType(np.int64, [10]))
    logreg = fedexec.native("logreg_client_update")
    assert isinstance(logreg.type_signature, fl.FunctionType)
    with pytest.raises(fedexec.NotFoundError, match="no_such_function"):
        fedexec.native("no_such_function")
    with pytest.raises(TypeError, match="generic signature"):
        fedexec.native("matmul")


def test_a_demo_function_runs_from_a_traced_computation(runtime):
    histogram = fedexec.native("analytics_histogram")

    @fl.federated_computation(fl.FederatedType(F32, fl.CLIENTS))
    def buckets(x):
        return fl.federated_sum(fl.federated_map(histogram, x))

    values = np.array([0.5, 4.0, 4.5, 100.0], F32)
    counts = _through_the_package(buckets)
    result = runtime.call(counts, values)
    expected = np.bincount(np.searchsorted(
        [0, 1, 2, 3, 5, 8, 13, 21, 34, 55], values, side="right") - 1,
        minlength=10)
    assert np.asarray(result).tolist() == expected.tolist()
