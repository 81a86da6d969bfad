"""Federated analytics from Python: `fedexec demo analytics` over 10^6
clients whose data is passed as one numpy array.

Every client holds the durations (minutes) of its sessions with an app; the
server learns only aggregates of each client's mean session length: the
mean, the minimum, the maximum and a histogram over fixed bucket edges
(those of demo/analytics.h). It is one federated computation, in fedexec's
text syntax, called once from Python:

    python python/examples/analytics.py --clients 1000000 --seed 0

The data. Unlike the C++ demo (which draws with std::mt19937_64, see
demo/analytics.h), this example makes its data with numpy's own seeded
generator, `numpy.random.default_rng(seed)`, drawing in this order:
  1. sessions per client, k = 1 + integers(16), for all clients;
  2. each client's typical log-duration mu = log(8) + 0.75 * normal();
  3. a 16-column matrix of durations exp(mu + 0.5 * normal()) in float32,
     of which client c keeps its first k[c] (the rest are zeros).
The distributions are the demo's (log-normal per client, median e^mu
minutes), the numbers are not: the figures are close to
`fedexec demo analytics`'s, not equal. The same seed gives the same data
and the same result on every run (fedexec's aggregation is deterministic).

How the clients get there. Sessions are ragged (1 to 16 per client) while
an N x ... array splits into N equal rows, so the data travels as an
N x 16 float32 array padded with zeros and an N-vector of session counts:
two arrays, split by rows into 2 x N client values without a copy (they are
made read-only for that). Each client's statistic is sum / count (adding the
padding's zeros changes no sum).

The histogram. Each client maps its statistic to a one-hot int64[10] over
the bucket edges with the demo's native analytics_histogram (fedexec's
registry, registered by the extension as by the program); the server sums
them. Only these aggregates leave the clients, as in the demo.
"""

from __future__ import annotations

import argparse
import time
from typing import Dict, Tuple

import numpy as np

import fedexec

MAX_SESSIONS = 16
BUCKET_EDGES = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34, 55], np.float32)

# Natives mapped straight over client values (no lambda per client): the
# fast path of the federated executor.
COMPUTATION = f"""
(x: <sessions={{float32[{MAX_SESSIONS}]}}@CLIENTS, counts={{float32}}@CLIENTS>) -> let
  sums = federated_map(
    native("reduce_sum", (float32[{MAX_SESSIONS}] -> float32)), x.sessions),
  stat = federated_map(native("divide", (<float32, float32> -> float32)),
                       federated_zip_at_clients(sums, x.counts)),
  buckets = federated_map(
    native("analytics_histogram", (float32 -> int64[{len(BUCKET_EDGES)}])),
    stat)
in <mean=federated_mean(stat), min=federated_min(stat),
    max=federated_max(stat), histogram=federated_sum(buckets)>
"""


def generate(clients: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """The clients' sessions (clients x 16, zero-padded) and their counts,
    both read-only float32 (see the module docstring for the draws)."""
    if clients < 1:
        raise ValueError(f"clients: must be 1 or more, is {clients}")
    rng = np.random.default_rng(seed)
    counts = 1 + rng.integers(MAX_SESSIONS, size=clients)
    mu = np.log(8.0) + 0.75 * rng.standard_normal(clients)
    sessions = np.exp(mu[:, None] + 0.5 * rng.standard_normal(
        (clients, MAX_SESSIONS))).astype(np.float32)
    sessions[np.arange(MAX_SESSIONS)[None, :] >= counts[:, None]] = 0
    counts = counts.astype(np.float32)
    sessions.flags.writeable = False
    counts.flags.writeable = False
    return sessions, counts


def run(runtime: fedexec.Runtime, clients: int, seed: int) -> Dict:
    """Generates the data and runs the computation; returns the aggregates
    and the timings (seconds)."""
    start = time.perf_counter()
    sessions, counts = generate(clients, seed)
    generated = time.perf_counter()
    computation = fedexec.Computation.from_text(COMPUTATION)
    result = runtime.call(computation, sessions, counts)
    done = time.perf_counter()
    return {
        "clients": clients,
        "sessions": int(counts.sum(dtype=np.int64)),
        "mean": float(result["mean"]),
        "min": float(result["min"]),
        "max": float(result["max"]),
        "histogram": np.asarray(result["histogram"]).tolist(),
        "generate_seconds": generated - start,
        "compute_seconds": done - generated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="worker threads (0: one per hardware thread)")
    flags = parser.parse_args()
    with fedexec.Runtime(threads=flags.threads) as runtime:
        r = run(runtime, flags.clients, flags.seed)
    print(f"Clients: {r['clients']}, sessions: {r['sessions']}")
    print(f"Mean session length per client (minutes): mean {r['mean']:.4f}, "
          f"min {r['min']:.4f}, max {r['max']:.4f}")
    print("Histogram of the clients' mean session length:")
    edges = BUCKET_EDGES.tolist()
    for b, n in enumerate(r["histogram"]):
        upper = f"{edges[b + 1]:g}" if b + 1 < len(edges) else "inf"
        print(f"  [{edges[b]:g}, {upper}): {n}")
    print(f"Time: data generation {r['generate_seconds']:.3f} s, federated "
          f"computation {r['compute_seconds']:.3f} s")


if __name__ == "__main__":
    main()
