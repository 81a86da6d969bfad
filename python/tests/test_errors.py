"""Errors: bad input is a TypeError or ValueError naming where; run-time
failures are fedexec.Error subclasses with their status code; Ctrl-C
cancels a running computation; a closed runtime refuses calls."""

import os
import pathlib
import signal
import threading
import time

import numpy as np
import pytest

import fedexec
from fedexec import _convert

# A computation that runs for as long as it is given clients: a sequence
# reduction over a long dataset at each client.
SLOW = ("(datasets: {int64*}@CLIENTS) -> federated_sum(federated_map("
        "(ds: int64*) -> sequence_reduce(ds, int64(0), (p: <int64,int64>) -> "
        "generic_plus(p[0], p[1])), datasets))")


def test_invalid_argument_is_a_value_error_with_fedexecs_message(runtime):
    with pytest.raises(fedexec.InvalidArgumentError) as info:
        runtime.call("(x: float32[2]) -> x", [1.0, 2.0, 3.0])
    assert isinstance(info.value, ValueError)
    assert info.value.code_name == "INVALID_ARGUMENT" and info.value.code == 3
    assert "float32[2]" in str(info.value)


def test_a_wrong_python_kind_is_a_type_error_naming_the_path(runtime):
    with pytest.raises(TypeError, match=r"argument\.b: expected float32"):
        runtime.call("(x: <a=int32,b=float32>) -> x", {"a": 1, "b": "x"})
    with pytest.raises(TypeError, match="one value per client"):
        runtime.call("(x: {int32}@CLIENTS) -> x", 3)


def test_numpy_arrays_of_another_dtype_are_not_cast(runtime):
    with pytest.raises(TypeError, match="astype"):
        runtime.call("(x: float32[2]) -> x", np.zeros(2, np.float64))


def test_out_of_range_python_integers(runtime):
    with pytest.raises(ValueError, match="int8"):
        runtime.call("(x: int8) -> x", 300)


def test_struct_names_and_counts_are_checked(runtime):
    with pytest.raises(ValueError, match="expected the names"):
        runtime.call("(x: <a=int32,b=int32>) -> x", {"a": 1, "c": 2})
    with pytest.raises(ValueError, match="expected 2 elements"):
        runtime.call("(x: <int32,int32>) -> x", (1, 2, 3))


def test_syntax_errors_name_the_line_and_column():
    with pytest.raises(fedexec.InvalidArgumentError, match=r"1:\d+"):
        fedexec.Computation.from_text("(x: float32) -> ")


def test_type_errors_of_the_computation():
    with pytest.raises(fedexec.InvalidArgumentError):
        fedexec.Computation.from_text("(x: float32) -> federated_sum(x)")


def test_malformed_protos():
    with pytest.raises(fedexec.InvalidArgumentError,
                       match="malformed Computation proto"):
        fedexec.Computation.from_proto(b"\xff\xff\xff")


def test_missing_files(tmp_path):
    with pytest.raises(fedexec.Error, match="nothing.fed"):
        fedexec.Computation.from_file(tmp_path / "nothing.fed")


def test_argument_counts(runtime):
    with pytest.raises(TypeError, match="takes no argument"):
        runtime.call("() -> 1", 2)
    with pytest.raises(TypeError, match="takes an argument"):
        runtime.call("(x: int32) -> x")


def test_bad_runtime_options():
    with pytest.raises(fedexec.InvalidArgumentError, match="thread"):
        fedexec.Runtime(threads=-1)
    with pytest.raises(ValueError, match="host:port"):
        fedexec.Runtime(workers="localhost")
    with pytest.raises(ValueError, match="twice"):
        fedexec.Runtime(workers=["127.0.0.1:1", "127.0.0.1:1"])
    with pytest.raises(ValueError, match="token_file"):
        fedexec.Runtime(token_file="/nonexistent")


def test_unreachable_workers_are_unavailable():
    with pytest.raises(fedexec.UnavailableError) as info:
        fedexec.Runtime(workers="127.0.0.1:1", timeout=1)
    assert info.value.code_name == "UNAVAILABLE"


def test_a_closed_runtime_refuses_calls():
    rt = fedexec.Runtime(threads=1)
    rt.close()
    rt.close()
    assert rt.closed
    with pytest.raises(fedexec.FailedPreconditionError, match="closed"):
        rt.call("() -> 1")


# A computation that runs for hours unless cancelled, in flat memory: its
# clients are produced lazily while the sum folds them (the one the C++
# cancellation tests use).
LONG_RUNNING = (pathlib.Path(__file__).resolve().parents[2] / "testdata" /
                "computations" / "long_running.fed")
LONG_CLIENTS = 100_000_000


def _start_long_call(rt):
    """Starts the long computation on a thread of its own; returns the
    thread and a dict that gets its outcome ("error" or "result")."""
    outcome = {}

    def run():
        try:
            outcome["result"] = rt.call(LONG_RUNNING,
                                        np.zeros((64, 64), np.float32),
                                        num_clients=LONG_CLIENTS)
        except BaseException as e:  # noqa: B902 - reported by the test
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _wait_running(rt, count, seconds=10):
    deadline = time.monotonic() + seconds
    while rt.num_running < count:
        assert time.monotonic() < deadline, "the calls did not start"
        time.sleep(0.005)


def test_cancel_running_from_another_thread():
    with fedexec.Runtime(threads=2) as rt:
        calls = [_start_long_call(rt) for _ in range(2)]
        _wait_running(rt, 2)
        start = time.monotonic()
        rt.cancel_running()
        for thread, _ in calls:
            thread.join(10)
        assert not any(t.is_alive() for t, _ in calls), \
            "cancel_running did not stop the calls within 10 s"
        assert time.monotonic() - start < 5
        for _, outcome in calls:
            assert isinstance(outcome.get("error"), fedexec.CancelledError), \
                outcome
            assert outcome["error"].code_name == "CANCELLED"
        assert rt.num_running == 0
        assert rt.call("() -> 1") == 1  # later calls run normally


def test_close_cancels_the_calls_of_other_threads():
    rt = fedexec.Runtime(threads=2)
    thread, outcome = _start_long_call(rt)
    _wait_running(rt, 1)
    rt.close()
    thread.join(10)
    assert not thread.is_alive(), "close did not stop the call within 10 s"
    assert isinstance(outcome.get("error"), fedexec.CancelledError), outcome


class _Watchdog:
    """Fails a test instead of letting it hang: after `seconds` it cancels
    the runtime's calls (again and again) until stopped."""

    def __init__(self, rt, seconds):
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(rt, seconds),
                                        daemon=True)
        self._thread.start()

    def _run(self, rt, seconds):
        if self._stop.wait(seconds):
            return
        self.fired = True
        while not self._stop.wait(0.05):
            rt.cancel_running()

    def stop(self):
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("when", ["running", "starting"])
def test_ctrl_c_cancels_the_running_computation(when):
    """SIGINT during a call raises KeyboardInterrupt within a fraction of a
    second and leaves nothing running, whether the call was running or
    still being checked ("starting": 3 x 2 x 10^6 sequence elements take
    Runtime::Call a second or more to check before the call counts as
    running and can be cancelled; the signal comes 0.1 s in)."""
    assert threading.current_thread() is threading.main_thread()
    with fedexec.Runtime(threads=2) as rt:
        if when == "starting":
            computation = fedexec.Computation.from_text(SLOW)
            argument = _convert.to_value([np.ones(2_000_000, np.int64)] * 3,
                                         computation.parameter_type)
        else:
            computation = fedexec.Computation.from_file(LONG_RUNNING)
            argument = _convert.to_value(np.zeros((64, 64), np.float32),
                                         computation.parameter_type)
        sent = []

        def interrupt():
            if when == "running":
                _wait_running(rt, 1)
            sent.append((time.monotonic(), rt.num_running))
            os.kill(os.getpid(), signal.SIGINT)

        watchdog = _Watchdog(rt, 10)
        timer = threading.Timer(0.1, interrupt)
        try:
            with pytest.raises(KeyboardInterrupt):
                timer.start()
                rt.call_value(computation, argument, num_clients=(
                    LONG_CLIENTS if when == "running" else None))
        finally:
            timer.join()
            watchdog.stop()
        assert not watchdog.fired, "Ctrl-C did not stop the call in 10 s"
        assert time.monotonic() - sent[0][0] < 5
        assert rt.num_running == 0
        assert rt.call("() -> 2") == 2


def _os_threads():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux")
def test_close_releases_every_thread():
    before = _os_threads()
    rt = fedexec.Runtime(threads=3)
    assert rt.call("(x: int32) -> x", 4) == 4  # starts the call thread too
    assert _os_threads() > before
    rt.close()
    assert _os_threads() == before


def test_calls_from_other_threads_run_on_them():
    with fedexec.Runtime(threads=2) as rt:
        results = [None] * 4

        def run(i):
            results[i] = int(rt.call("(x: int32) -> x", i))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [0, 1, 2, 3]
