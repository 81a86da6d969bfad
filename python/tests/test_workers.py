"""The same calls over two fedexec workers on loopback, started with
`python -m fedexec.worker`, give the in-process results."""

import federated_language as fl
import numpy as np
import pytest

import fedexec

MEAN = "(x: {float32}@CLIENTS) -> federated_mean(x)"


def test_the_worker_module_starts_a_worker(two_workers):
    assert len(two_workers) == 2
    assert all(a.startswith(("127.0.0.1:", "localhost:", "[::1]:",
                             "0.0.0.0:", "[::]:")) for a in two_workers)


def test_federated_mean_over_two_workers(remote_runtime, runtime):
    values = np.arange(1000, dtype=np.float32)
    values.flags.writeable = False
    remote = remote_runtime.call(MEAN, values)
    assert remote == runtime.call(MEAN, values)


def test_structs_and_per_client_results_over_workers(remote_runtime):
    result = remote_runtime.call(
        "(x: {<a=int32,b=float32[2]>}@CLIENTS) -> x",
        [{"a": 1, "b": [1.0, 2.0]}, {"a": 2, "b": [3.0, 4.0]},
         {"a": 3, "b": [5.0, 6.0]}])
    assert [r["a"] for r in result] == [1, 2, 3]
    np.testing.assert_array_equal(result[2]["b"], [5.0, 6.0])


def test_federated_language_context_over_workers(remote_runtime):
    @fl.federated_computation(fl.FederatedType(np.int32, fl.CLIENTS))
    def total(x):
        return fl.federated_sum(x)

    fedexec.set_default_context(remote_runtime)
    try:
        assert total([1, 2, 3, 4, 5]) == 15
    finally:
        fedexec.set_default_context(None)


def test_errors_over_workers_keep_their_code(remote_runtime):
    with pytest.raises(fedexec.InvalidArgumentError, match="float32"):
        remote_runtime.call("(x: float32[2]) -> x", [1.0, 2.0, 3.0])
