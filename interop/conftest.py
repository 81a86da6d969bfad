"""Fixtures shared by the interoperability suites.

The suites run fedexec against the real packages it claims to be compatible
with, each in its own virtual environment (scripts/setup.sh makes both):

    interop/fl/   federated_language 0.5.4 (.venv): computations the package
                                traces and serializes, run by fedexec.
    interop/tff/  TensorFlow Federated 0.87 (.venv-tff): TFF's own client
                                driving a fedexec worker, and fedexec driving TFF's own
                                worker_binary.

Every process a test starts is stopped by the fixture that started it.
"""

import os
import pathlib
import re
import signal
import subprocess
import time
from typing import List, Optional

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fedexec_binary() -> pathlib.Path:
    """The fedexec program under test: $FEDEXEC_BIN, else build/fedexec."""
    path = pathlib.Path(os.environ.get("FEDEXEC_BIN", ROOT / "build" / "fedexec"))
    if not path.is_file():
        raise FileNotFoundError(
                f"no fedexec program at {path}: build it (scripts/setup.sh) or set "
                "FEDEXEC_BIN")
    return path


class Process:
    """A child process that is always stopped: SIGTERM, then SIGKILL.

    It runs in its own process group, so that whatever it starts is stopped
    with it.
    """

    def __init__(self, argv: List[str], **kwargs):
        self.argv = argv
        self.popen = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True, **kwargs)

    def read_line_matching(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """Reads stdout until a line matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        self.stop()
        raise RuntimeError(
                f"{self.argv[0]} did not print /{pattern}/ within {timeout} s; "
                f"stdout: {''.join(seen)!r}; stderr: {self.popen.stderr.read()!r}")

    def stop(self, grace: float = 5.0) -> Optional[int]:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        return self.popen.returncode


def start_fedexec_worker(*extra_args: str) -> "tuple[Process, str]":
    """Starts `fedexec worker` on a free loopback port; (process, address)."""
    proc = Process([str(fedexec_binary()), "worker", "--port", "0", *extra_args])
    match = proc.read_line_matching(r"listening on (\S+)")
    return proc, match.group(1)


@pytest.fixture(scope="session")
def fedexec_bin() -> pathlib.Path:
    return fedexec_binary()


@pytest.fixture(scope="session")
def fedexec_worker():
    """One fedexec worker shared by a session: its address, host:port."""
    proc, address = start_fedexec_worker()
    try:
        yield address
    finally:
        proc.stop()


def run_fedexec(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Runs the fedexec program to completion; stdout and stderr as text."""
    return subprocess.run([str(fedexec_binary()), *args], capture_output=True,
                                                text=True, timeout=timeout)
