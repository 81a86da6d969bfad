"""TensorFlow Federated 0.87's own Python runtime drives a fedexec worker.

The context is the one TFF builds for its C++ worker
(`executor_factory.local_cpp_executor_factory`): a `SyncExecutionContext`
over `RemoteExecutor`s on a `RemoteExecutorGrpcStub`, here on a gRPC channel
to one fedexec worker shared by the session (interop/conftest.py's
`fedexec_worker`). Its compiler is `compiler.transform_to_native_form`,
which keeps federated_sum, federated_mean and federated_aggregate as
intrinsics (the default, `desugar_and_transform_to_native`, lowers them to
TensorFlow leaves, which fedexec refuses until it has a TensorFlow runtime).

Each computation is traced once, at import. A gRPC interceptor on the
channel records every call TFF makes (method and code), so that the tests
can see what reached the worker (batched Dispose, say).

Run: /work/main/.venv-tff/bin/python -m pytest interop/tff/test_tff_client.py
"""

import os
import pathlib
import threading
from typing import List, Tuple

import grpc
import numpy as np
import pytest

import tensorflow_federated as tff
from tensorflow_federated.proto.v0 import executor_pb2
from tensorflow_federated.proto.v0 import executor_pb2_grpc
from tensorflow_federated.python.core.backends.mapreduce import intrinsics as mapreduce_intrinsics
from tensorflow_federated.python.core.backends.native import compiler
from tensorflow_federated.python.core.environments.tensorflow_frontend import tensorflow_computation
from tensorflow_federated.python.core.impl.context_stack import context_stack_impl
from tensorflow_federated.python.core.impl.execution_contexts import sync_execution_context
from tensorflow_federated.python.core.impl.executor_stacks import python_executor_stacks
from tensorflow_federated.python.core.impl.executors import remote_executor
from tensorflow_federated.python.core.impl.executors import remote_executor_grpc_stub
from tensorflow_federated.python.core.impl.federated_context import value_impl
from tensorflow_federated.python.core.impl.types import placements

# Clients of a call whose arguments do not say (TFF's default_num_clients).
DEFAULT_CLIENTS = 3

SERVER_F32 = tff.FederatedType(np.float32, tff.SERVER)
SERVER_I32 = tff.FederatedType(np.int32, tff.SERVER)
CLIENTS_F32 = tff.FederatedType(np.float32, tff.CLIENTS)
CLIENTS_I32 = tff.FederatedType(np.int32, tff.CLIENTS)

# ------------------------------------------------------------ computations


@tff.federated_computation(SERVER_F32)
def broadcast(x):
  return tff.federated_broadcast(x)


@tff.federated_computation(CLIENTS_F32)
def identity_at_clients(x):
  return x


@tff.federated_computation(CLIENTS_I32, CLIENTS_F32)
def zip_at_clients(a, b):
  return tff.federated_zip((a, b))


@tff.federated_computation(SERVER_I32, SERVER_F32)
def zip_at_server(a, b):
  return tff.federated_zip((a, b))


@tff.federated_computation(np.int32)
def value_at_both(x):
  return (tff.federated_value(x, tff.SERVER),
          tff.federated_value(x, tff.CLIENTS))


@tff.federated_computation(SERVER_F32)
def broadcast_then_zip(x):
  b = tff.federated_broadcast(x)
  return tff.federated_zip((b, b))


@tff.federated_computation(
    tff.StructType([("s", SERVER_F32), ("c", CLIENTS_I32)]))
def select_clients(p):
  return p.c


@tff.federated_computation(SERVER_F32, CLIENTS_I32)
def struct_result(s, c):
  return tff.federated_broadcast(s), c, tff.federated_sum(c)


@tff.federated_computation(CLIENTS_I32)
def federated_sum(x):
  return tff.federated_sum(x)


@tff.federated_computation(CLIENTS_F32)
def federated_mean(x):
  return tff.federated_mean(x)


@tff.federated_computation(np.int32, np.int32)
def keep_last(acc, value):
  del acc
  return value


@tff.federated_computation(np.int32, np.int32)
def merge_right(a, b):
  del a
  return b


@tff.federated_computation(np.int32)
def report_twice(a):
  return a, a


@tff.federated_computation(CLIENTS_I32, np.int32)
def federated_aggregate(x, zero):
  # Without TensorFlow leaves: accumulate keeps the client's value, merge
  # the right one, so the result is the last client's value.
  return tff.federated_aggregate(x, zero, keep_last, merge_right,
                                 report_twice)


@tff.federated_computation(CLIENTS_I32, np.int32)
def secure_modular_sum(x, modulus):
  # tff.backends.mapreduce.federated_secure_modular_sum first reduces each
  # client's value with a TensorFlow leaf (floormod); the intrinsic alone:
  comp = mapreduce_intrinsics.create_federated_secure_modular_sum(
      x.comp, modulus.comp, preapply_modulus=False)
  return value_impl.Value(comp)


@tff.tensorflow.computation(np.int32)
def add_one(x):
  return x + 1


# ---------------------------------------------------------------- context


class _Recorder(grpc.UnaryUnaryClientInterceptor):
  """Records (method, status code) of every call on the channel."""

  def __init__(self):
    self.calls: List[Tuple[str, grpc.StatusCode]] = []
    self._lock = threading.Lock()

  def intercept_unary_unary(self, continuation, client_call_details, request):
    outcome = continuation(client_call_details, request)
    with self._lock:
      self.calls.append((client_call_details.method.split("/")[-1],
                         outcome.code()))
    return outcome

  def methods(self, code=grpc.StatusCode.OK) -> List[str]:
    with self._lock:
      return [m for m, c in self.calls if c == code]


def _context(stub, stream_structs: bool):
  """TFF's remote C++ execution context over `stub`."""

  def stack_fn(cardinalities):
    if cardinalities.get(placements.CLIENTS) is None:
      cardinalities[placements.CLIENTS] = DEFAULT_CLIENTS
    ex = remote_executor.RemoteExecutor(stub, stream_structs=stream_structs)
    ex.set_cardinalities(cardinalities)
    return ex

  factory = python_executor_stacks.ResourceManagingExecutorFactory(
      executor_stack_fn=stack_fn)
  return sync_execution_context.SyncExecutionContext(
      executor_fn=factory,
      compiler_fn=compiler.transform_to_native_form,
      transform_args=tensorflow_computation.transform_args,
      transform_result=tensorflow_computation.transform_result,
  )


@pytest.fixture(scope="session")
def recorder():
  return _Recorder()


@pytest.fixture(scope="session")
def channel(fedexec_worker, recorder):
  raw = grpc.insecure_channel(fedexec_worker)
  grpc.channel_ready_future(raw).result(timeout=30)
  yield grpc.intercept_channel(raw, recorder)
  raw.close()


@pytest.fixture(scope="session")
def stub(channel):
  return remote_executor_grpc_stub.RemoteExecutorGrpcStub(channel)


@pytest.fixture(scope="session")
def tff_context(stub):
  """TFF's context, installed as the default for the session."""
  context = _context(stub, stream_structs=False)
  context_stack_impl.context_stack.set_default_context(context)
  yield context


@pytest.fixture()
def streaming_context(stub, tff_context):
  """The same with stream_structs: structs travel element by element."""
  context = _context(stub, stream_structs=True)
  with context_stack_impl.context_stack.install(context):
    yield context


def _as_tuple(value):
  """A TFF struct result as a plain tuple of its elements."""
  if isinstance(value, (tuple, list)):
    return tuple(value)
  return tuple(value[i] for i in range(len(value)))


# ------------------------------------------------------------------ tests


def test_broadcast_gives_one_value_equal_at_every_client(tff_context):
  result = broadcast(np.float32(1.5))
  assert np.asarray(result).dtype == np.float32
  assert float(result) == 1.5


def test_identity_of_client_values(tff_context):
  result = identity_at_clients([np.float32(1.0), np.float32(2.5),
                                np.float32(-3.0), np.float32(4.0)])
  assert [float(v) for v in result] == [1.0, 2.5, -3.0, 4.0]


def test_zip_of_client_values_is_one_pair_per_client(tff_context):
  result = zip_at_clients([1, 2, 3], [np.float32(0.5)] * 3)
  assert len(result) == 3
  assert [tuple(map(float, _as_tuple(p))) for p in result] == [
      (1.0, 0.5), (2.0, 0.5), (3.0, 0.5)]


def test_zip_at_the_server(tff_context):
  a, b = _as_tuple(zip_at_server(7, np.float32(2.5)))
  assert int(a) == 7 and float(b) == 2.5


def test_federated_value_at_both_placements(tff_context):
  at_server, at_clients = _as_tuple(value_at_both(5))
  assert int(at_server) == 5
  assert int(at_clients) == 5  # all-equal: one value


def test_broadcast_then_zip_has_one_member_per_client(tff_context):
  # {<float32,float32>}@CLIENTS: not all-equal, so one pair per client even
  # though fedexec holds it as one value.
  result = broadcast_then_zip(np.float32(2.0))
  assert len(result) == DEFAULT_CLIENTS
  for pair in result:
    assert tuple(map(float, _as_tuple(pair))) == (2.0, 2.0)


def test_struct_selection(tff_context):
  result = select_clients([np.float32(1.0), [4, 5]])
  assert [int(v) for v in result] == [4, 5]


@pytest.mark.parametrize("streamed", [False, True])
def test_struct_results(tff_context, stub, streamed):
  context = _context(stub, stream_structs=streamed)
  with context_stack_impl.context_stack.install(context):
    b, c, total = _as_tuple(struct_result(np.float32(0.5), [1, 2, 3, 4]))
  assert float(b) == 0.5
  assert [int(v) for v in c] == [1, 2, 3, 4]
  assert int(total) == 10


def test_streamed_struct_arguments_and_zip(streaming_context):
  result = zip_at_clients([1, 2], [np.float32(0.25), np.float32(0.75)])
  assert [tuple(map(float, _as_tuple(p))) for p in result] == [(1.0, 0.25),
                                                                (2.0, 0.75)]
  assert len(broadcast_then_zip(np.float32(1.0))) == DEFAULT_CLIENTS


def test_many_calls_dispose_in_batches(tff_context, recorder):
  before = len(recorder.methods())
  for i in range(30):
    assert int(federated_sum([i, 1, 2])) == i + 3
  oks = recorder.methods()[before:]
  # RemoteExecutor sends Dispose for every 20 values it lets go of.
  assert "Dispose" in oks
  assert not [m for m, c in recorder.calls if c != grpc.StatusCode.OK
              and m == "Dispose"]


def test_federated_sum_mean_and_aggregate(tff_context):
  assert int(federated_sum([1, 2, 3, 4])) == 10
  assert float(federated_mean([np.float32(1.0), np.float32(2.0),
                               np.float32(6.0)])) == 3.0
  first, second = _as_tuple(federated_aggregate([4, 9, 2], 0))
  assert int(first) == 2 and int(second) == 2


def test_federated_secure_modular_sum(tff_context):
  assert int(secure_modular_sum([3, 4, 5], 7)) == (3 + 4 + 5) % 7


def test_a_tensorflow_leaf_is_refused_with_a_readable_error(tff_context):
  # Until fedexec has a TensorFlow runtime: refused as bad input (not a
  # retryable error, which TFF's context would retry forever), and TFF's
  # user reads why.
  with pytest.raises(grpc.RpcError) as raised:
    add_one(1)
  assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
  assert "unsupported leaf kind 'tensorflow'" in raised.value.details()
  assert "unsupported leaf kind 'tensorflow'" in str(raised.value)


def test_the_worker_still_serves_and_nothing_is_left_behind(
    tff_context, fedexec_worker):
  # A fresh channel of our own: GetExecutor and DisposeExecutor answer.
  with grpc.insecure_channel(fedexec_worker) as fresh:
    group = executor_pb2_grpc.ExecutorGroupStub(fresh)
    executor = group.GetExecutor(executor_pb2.GetExecutorRequest(),
                                 timeout=30).executor
    assert executor.id
    group.DisposeExecutor(
        executor_pb2.DisposeExecutorRequest(executor=executor), timeout=30)
  # TFF started no process of its own (no worker_binary): this process's
  # only child is the session's fedexec worker.
  children = []
  for entry in pathlib.Path("/proc").iterdir():
    if not entry.name.isdigit():
      continue
    try:
      stat = (entry / "stat").read_text()
      cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
      continue
    ppid = int(stat.rsplit(")", 1)[1].split()[1])
    if ppid == os.getpid():
      children.append(cmdline)
  assert len(children) == 1, children
  assert "fedexec" in children[0] and " worker " in children[0]
