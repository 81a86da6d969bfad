"""Shared fixtures of the fedexec Python tests.

The package under test is the one on sys.path: scripts/setup.sh runs these
tests with PYTHONPATH=build/python (the build tree's assembled package);
an installed package works the same.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import fedexec


@pytest.fixture(scope="session")
def runtime():
    """One in-process runtime (2 threads) shared by the session."""
    with fedexec.Runtime(threads=2) as rt:
        yield rt


class Worker:
    """A `python -m fedexec.worker --port 0` process in a session of its
    own, always stopped."""

    def __init__(self, *extra):
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "fedexec.worker", "--port", "0", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"listening on (\S+)", line)
            if match:
                self.address = match.group(1)
                return
        self.stop()
        raise RuntimeError(f"the worker did not start: {''.join(seen)!r} "
                           f"{self.popen.stderr.read()!r}")

    def stop(self):
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode


@pytest.fixture(scope="session")
def two_workers():
    """Two loopback workers started from the package: their addresses."""
    workers = []
    try:
        workers.append(Worker())
        workers.append(Worker())
        yield [w.address for w in workers]
    finally:
        for w in workers:
            w.stop()


@pytest.fixture(scope="session")
def remote_runtime(two_workers):
    """A runtime over the two workers."""
    with fedexec.Runtime(workers=two_workers, threads=2, timeout=30) as rt:
        yield rt
