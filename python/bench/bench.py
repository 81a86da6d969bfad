"""Benchmarks of the Python package, each printed beside its C++ baseline
measured in the same run (python/bench/call_bench.cc, built by
`cmake --build BUILD --target fedexec_call_bench`):

  call   a call of the trivial computation `(x: int32) -> x` from Python
         (Runtime.call with a Python int, the result back as a numpy
         scalar): microseconds per call, beside Runtime::Call from C++.
  mean   federated_mean over 10^6 scalar float32 clients passed as one
         read-only numpy array (split into client values by rows without a
         copy): nanoseconds per client, beside C++ building the same 10^6
         client tensors over one buffer and calling. Target: within 1.5x.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
      PYTHONPATH=BUILD/python python python/bench/bench.py \\
      --cpp BUILD/python/fedexec_call_bench [--threads 2]

Each figure is the median of 7 rounds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import numpy as np

import fedexec


def python_figures(threads: int) -> dict:
    with fedexec.Runtime(threads=threads) as rt:
        identity = fedexec.Computation.from_text("(x: int32) -> x")
        calls = 2000
        per_call = []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(calls):
                rt.call(identity, 1)
            per_call.append((time.perf_counter() - start) / calls * 1e6)

        clients = 1_000_000
        values = (np.arange(clients) % 7).astype(np.float32)
        values.flags.writeable = False
        mean = fedexec.Computation.from_text(
            "(x: {float32}@CLIENTS) -> federated_mean(x)")
        per_client = []
        for _ in range(7):
            start = time.perf_counter()
            result = rt.call(mean, values)
            per_client.append((time.perf_counter() - start) / clients * 1e9)
        assert abs(float(result) - float(values.mean(dtype=np.float64))) < 1e-3
    return {"call": statistics.median(per_call),
            "mean": statistics.median(per_client)}


def cpp_figures(binary: str, threads: int) -> dict:
    out = subprocess.run([binary, str(threads)], capture_output=True,
                         text=True, check=True, timeout=600).stdout
    figures = {}
    for line in out.splitlines():
        name, value, _ = line.split()
        figures[name] = float(value)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpp", help="the fedexec_call_bench program")
    parser.add_argument("--threads", type=int, default=0)
    flags = parser.parse_args()
    py = python_figures(flags.threads)
    cpp = cpp_figures(flags.cpp, flags.threads) if flags.cpp else {}
    for name, unit, what in (
            ("call", "us per call", "trivial call (x: int32) -> x"),
            ("mean", "ns per client",
             "federated_mean, 10^6 scalar clients, one array")):
        line = f"{what}: Python {py[name]:.2f} {unit}"
        if name in cpp:
            line += (f", C++ {cpp[name]:.2f} {unit} "
                     f"(Python/C++ {py[name] / cpp[name]:.2f}x)")
        print(line)


if __name__ == "__main__":
    main()
