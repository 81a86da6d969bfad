"""fedexec as a client of TensorFlow Federated's own worker (worker_binary).

TFF 0.87 ships its C++ executor service as worker_binary. It serves only the
plain executor protocol (tensorflow_federated.v0): no batches, no streams, no
partial aggregates; it reads arrays as typed lists, except the arrays of
federated members that are not scalars, which it reads only as
Array.content. fedexec finds that out (GetWorkerInfo answers
UNIMPLEMENTED), encodes arrays the way that worker reads them, and runs
aggregations by reading the clients' values back from the worker and
folding them on the coordinator by the same block tree as in-process, so
every result printed here must be the in-process one, character for
character (the printer writes floats exactly).

Every example in examples/ is accounted for: it runs against worker_binary
and is compared with the in-process run, or it is listed with why it cannot
run there.

Run with: /work/main/.venv-tff/bin/python -m pytest interop/tff/test_tff_worker.py
(FEDEXEC_BIN points at the fedexec program under test; build/fedexec by
default).
"""

import pathlib
import socket
import subprocess
import sys
import time

import portpicker
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from conftest import ROOT, Process, run_fedexec, start_fedexec_worker  # noqa: E402

EXAMPLES = ROOT / "examples"


def worker_binary() -> pathlib.Path:
    import tensorflow_federated  # noqa: F401  (the package that ships it)

    path = (pathlib.Path(tensorflow_federated.__file__).parent / "data" /
            "worker_binary")
    if not path.is_file():
        raise FileNotFoundError(f"TFF 0.87 ships worker_binary at {path}")
    return path


class LoggedProcess(Process):
    """A Process whose output goes to a file (TFF's worker logs every call:
    a pipe nobody reads would fill up and stall it)."""

    def __init__(self, argv, log_path: pathlib.Path):
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.popen = subprocess.Popen(argv, stdout=self._log,
                                      stderr=subprocess.STDOUT,
                                      start_new_session=True)

    def stop(self, grace: float = 5.0):
        code = super().stop(grace)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for_port(proc: LoggedProcess, port: int, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"worker_binary exited with {proc.popen.returncode}: "
                f"{proc.log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"worker_binary did not listen on port {port} within "
                       f"{timeout} s: {proc.log()}")


@pytest.fixture(scope="session")
def tff_worker(tmp_path_factory):
    """One TFF worker_binary for the session, on a free port: host:port."""
    port = portpicker.pick_unused_port()
    log = tmp_path_factory.mktemp("tff_worker") / "worker.log"
    proc = LoggedProcess([str(worker_binary()), f"--port={port}"], log)
    try:
        wait_for_port(proc, port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


def fedexec_run(example: str, args, *extra: str):
    """`fedexec run` of an example: `args` are --arg values, then flags."""
    argv = ["run", str(EXAMPLES / example)]
    flags = []
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            flags = list(args[i:])
            break
        argv += ["--arg", arg]
    return run_fedexec(*argv, *flags, *extra)


# 1,000 clients with values that do not add up exactly in float32: the sum
# depends on the order of the additions, so only the same tree gives the
# same bits.
MANY = "{" + ", ".join(repr(0.1 * i * i + 1.0 / (i + 3)) for i in range(1000)) + "}@CLIENTS"

# What runs against worker_binary: example -> list of argument lists (and
# extra flags). Those with generic_* intrinsics run because the generic work
# stays on the coordinator: aggregations and all-equal values are folded
# and mapped there; only per-client maps go to the worker.
RUNS = {
    "mean.fed": [["{1.0, 2.0, 6.0}@CLIENTS"], [MANY]],
    "aggregate.fed": [["{1.0, 2.0, 6.0, 3.0}@CLIENTS"], [MANY]],
    "generic_plus_structs.fed": [
        ["<a=<x=[1, 2], y=3>, b=<x=[10, 20], y=4>>"]],
    "map_all_equal.fed": [
        ["[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]@SERVER", "--clients", "3"]],
    "scoping.fed": [["5"]],
    "secure_sum.fed": [[
        "{[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0], [0, 1, 0, 1]}@CLIENTS"]],
    "nested_structs.fed": [["<a=<b=1, c=[2.0, 3.0]>, d=true>"]],
    # Fails in-process too (its placement literal has no value at run
    # time): the same error either way.
    "literals.fed": [[]],
}
FAILS_IN_PROCESS_TOO = {"literals.fed"}

# What cannot run there, and why. Each reason is checked to hold.
NEEDS_GENERIC = ("maps a function with a generic_* intrinsic at the clients; "
                 "TFF's worker has no generic_* intrinsic")
NEEDS_NATIVE = "calls a native leaf; TFF's worker has no native runtime"
NOT_RUN = {
    "eval_at_clients.fed": NEEDS_NATIVE,
    "fedavg_round.fed": NEEDS_NATIVE,
    "histogram.fed": NEEDS_NATIVE,
    "select.fed": NEEDS_NATIVE,
    # Also: TFF's worker reads sequences only as serialized tf.data graphs.
    "sequence_reduce.fed": NEEDS_GENERIC,
    "zip_and_map.fed": NEEDS_GENERIC,
    "min_max.fed": (
        "reads data(\"file:///data/temperatures\"): with --workers a data uri "
        "is resolved by the worker that holds the clients, and TFF's worker "
        "has no resolver for fedexec's file uris"),
}


# Examples listed for what TFF's worker lacks, that run in-process: shown to
# fail there with the worker's own words for what it lacks.
REFUSED_BY_TFF = {
    "zip_and_map.fed": (["{[1, 2, 3], [1, 1, 1]}@CLIENTS",
                         "{[2, 2, 2], [4, 5, 6]}@CLIENTS"],
                        "does not support intrinsic URI: generic_multiply"),
    "sequence_reduce.fed": (["{seq[1, 2, 3], seq[4], seq[10]}@CLIENTS"],
                            "requires graphdef-based serialization"),
}


def test_every_example_is_run_or_listed_with_a_reason():
    examples = sorted(p.name for p in EXAMPLES.glob("*.fed"))
    assert examples, "no examples found"
    assert sorted(set(RUNS) | set(NOT_RUN)) == examples
    assert not set(RUNS) & set(NOT_RUN)


@pytest.mark.parametrize("example", sorted(NOT_RUN))
def test_listed_examples_need_what_tffs_worker_lacks(example):
    text = (EXAMPLES / example).read_text()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())
    reason = NOT_RUN[example]
    if reason == NEEDS_GENERIC:
        assert "generic_" in code and "federated_map(" in code
    elif reason == NEEDS_NATIVE:
        assert "native(" in code
    else:
        assert "data(" in code and "generic_" not in code and "native(" not in code


@pytest.mark.parametrize(
    "example,args",
    [(name, args) for name in sorted(RUNS) for args in RUNS[name]],
    ids=[f"{name}-{i}" for name in sorted(RUNS) for i in range(len(RUNS[name]))])
def test_example_on_tff_worker_matches_in_process(tff_worker, example, args):
    local = fedexec_run(example, args)
    remote = fedexec_run(example, args, "--workers", tff_worker)
    if example in FAILS_IN_PROCESS_TOO:
        assert local.returncode != 0
        assert (remote.returncode, remote.stdout, remote.stderr) == (
            local.returncode, local.stdout, local.stderr)
        return
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert local.stdout.strip()


def test_tff_worker_errors_name_the_worker_and_say_what_failed(
        tff_worker, tmp_path):
    # A computation that TFF's worker cannot run (a generic_* intrinsic in
    # a function mapped at the clients): the error names the worker and
    # carries its text, never an empty message.
    comp = tmp_path / "double.fed"
    comp.write_text("(x: {float32}@CLIENTS) -> federated_map("
                    "(v: float32) -> generic_plus(v, v), x)\n")
    run = run_fedexec("run", str(comp), "--arg", "{1.0, 2.0}@CLIENTS",
                      "--workers", tff_worker)
    assert run.returncode != 0, (run.stdout, run.stderr)
    assert f"worker {tff_worker}" in run.stderr
    assert "generic_plus" in run.stderr  # TFF's worker's own text
    message = run.stderr.split(f"worker {tff_worker}:", 1)[-1].strip()
    assert message, run.stderr


# Beyond the examples: what fedexec forwards to the worker (federated_map of
# a lambda, zips, broadcasts) and reads back (per-client and all-equal
# values, whose member types TFF's worker leaves out of its answers).
FORWARDED = {
    "select_then_mean": (
        "(x: {<a=float32,b=float32[2]>}@CLIENTS) -> "
        "federated_mean(federated_map((v: <a=float32,b=float32[2]>) -> v.b, x))",
        "{<a=1.0, b=[0.5, 2.0]>, <a=2.0, b=[0.25, 3.0]>, <a=3.0, b=[1.0, 0.1]>}@CLIENTS"),
    "weighted_mean_of_zip": (
        "(p: <v={float32}@CLIENTS,w={float32}@CLIENTS>) -> "
        "federated_weighted_mean(federated_map("
        "(z: <float32,float32>) -> z[0], federated_zip_at_clients(p.v, p.w)), p.w)",
        "<v={1.0, 2.0, 7.0}@CLIENTS, w={0.5, 3.0, 1.0}@CLIENTS>"),
    "per_client_result": (
        "(x: {<a=int32,b=float32[3]>}@CLIENTS) -> "
        "federated_map((v: <a=int32,b=float32[3]>) -> <v.b, v.a>, x)",
        "{<a=1, b=[1.0, 2.0, 3.0]>, <a=2, b=[4.0, 5.0, 6.0]>}@CLIENTS"),
    "broadcast_min_max": (
        "(p: <s=float32@SERVER,x={float32}@CLIENTS>) -> "
        "<b=federated_broadcast(p.s), lo=federated_min(p.x), hi=federated_max(p.x)>",
        "<s=2.5@SERVER, x={3.0, -1.0, 8.0}@CLIENTS>"),
}


@pytest.mark.parametrize("name", sorted(FORWARDED))
def test_forwarded_work_on_tff_worker_matches_in_process(tff_worker, tmp_path,
                                                         name):
    text, arg = FORWARDED[name]
    comp = tmp_path / f"{name}.fed"
    comp.write_text(text + "\n")
    local = run_fedexec("run", str(comp), "--arg", arg)
    assert local.returncode == 0, local.stderr
    remote = run_fedexec("run", str(comp), "--arg", arg, "--workers", tff_worker)
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert local.stdout.strip()


def test_tff_and_fedexec_workers_together_give_the_in_process_bits(tff_worker):
    # One shard on TFF's worker, one on a fedexec worker: the aggregation is
    # folded on the coordinator over both (TFF's worker has no partials).
    proc, address = start_fedexec_worker("--threads", "1")
    try:
        workers = f"{tff_worker},{address}"
        local = fedexec_run("mean.fed", [MANY])
        assert local.returncode == 0, local.stderr
        remote = fedexec_run("mean.fed", [MANY], "--workers", workers)
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout == local.stdout
    finally:
        proc.stop()


@pytest.mark.parametrize("example", sorted(REFUSED_BY_TFF))
def test_tff_worker_refuses_what_it_lacks_in_its_own_words(tff_worker, example):
    args, words = REFUSED_BY_TFF[example]
    assert example in NOT_RUN
    local = fedexec_run(example, args)
    assert local.returncode == 0, local.stderr
    remote = fedexec_run(example, args, "--workers", tff_worker)
    assert remote.returncode != 0
    assert f"worker {tff_worker}: " in remote.stderr
    assert words in remote.stderr
