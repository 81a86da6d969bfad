"""The examples of python/examples, run end to end on small inputs and
checked against numpy."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import analytics  # noqa: E402  (python/examples/analytics.py)


def test_analytics_matches_numpy(runtime):
    clients = 5000
    r = analytics.run(runtime, clients, seed=3)
    sessions, counts = analytics.generate(clients, seed=3)
    assert not sessions.flags.writeable  # shared with fedexec, not copied
    stat = sessions.sum(axis=1, dtype=np.float32) / counts
    assert r["clients"] == clients
    assert r["sessions"] == int(counts.sum())
    assert r["mean"] == pytest.approx(stat.mean(dtype=np.float64), rel=1e-5)
    assert r["min"] == pytest.approx(stat.min(), rel=1e-6)
    assert r["max"] == pytest.approx(stat.max(), rel=1e-6)
    buckets = np.searchsorted(analytics.BUCKET_EDGES, stat, side="right") - 1
    assert r["histogram"] == np.bincount(
        buckets, minlength=len(analytics.BUCKET_EDGES)).tolist()
    assert sum(r["histogram"]) == clients


def test_analytics_is_deterministic(runtime):
    a = analytics.run(runtime, 3000, seed=11)
    b = analytics.run(runtime, 3000, seed=11)
    c = analytics.run(runtime, 3000, seed=12)
    keys = ("mean", "min", "max", "histogram")
    assert [a[k] for k in keys] == [b[k] for k in keys]
    assert [a[k] for k in keys] != [c[k] for k in keys]


def test_analytics_script_end_to_end():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "analytics.py"), "--clients", "2000",
         "--threads", "2"], capture_output=True, text=True, timeout=120,
        check=True).stdout
    assert "Clients: 2000, sessions:" in out
    assert "[55, inf):" in out


def test_analytics_rejects_no_clients(runtime):
    with pytest.raises(ValueError, match="clients: must be 1 or more"):
        analytics.run(runtime, 0, seed=0)
