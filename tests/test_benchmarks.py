"""Every benchmark runs, at tiny sizes, so none can rot (bench_watch.py once read a private
attribute that had gone, and nobody knew until it was run by hand)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

SMOKE = {
    "bench_fsmap.py": (["--tasks", "200", "--repeat", "1"], ["Server full sync", "ratio"]),
    "bench_timeline.py": (["--mb", "0.2", "--tasks", "100", "--repeat", "1"],
                          ["ratio to line count"]),
    "bench_watch.py": (["--tasks", "200", "--seconds", "3", "--interval", "0.3"],
                       ["idle: ecfnb 1 request(s)/poll", "detection latency ecfnb: median"]),
    "bench_fuse.py": (["--tasks", "200", "--rounds", "1", "--naive-timeout", "30"],
                      ["find -name '*.abo' (first)", "find after 1 change", "naive find"]),
    "bench_explorer.py": (["--tasks", "200", "--no-browser", "--repeat", "1", "--interval", "1"],
                          ["kernel RSS after explore()", "kernel + poller PSS", "idle refresh"]),
    "bench_panels.py": (["--tasks", "200", "--dependants", "30", "--log-mb", "1", "--repeat",
                         "1", "--no-browser"],
                        ["triggers of a node with 30 dependants", "table sorted by",
                         "search by glob", "log view of a"]),
    "bench_operating.py": (["--tasks", "200", "--preview-tasks", "100", "--repeat", "1",
                            "--no-browser"],
                           ["menu of /gen00", "preview of a requeue of 1 suite(s)"]),
    "bench_history.py": (["--tasks", "200", "--log-mb", "1", "--repeat", "1", "--steps", "3",
                          "--stretch", "65536"],
                         ["stretches stored once", "the tree at 50% of a", "one cold sync",
                          "between the two readings: 0;", "slider step forward"]),
    "bench_forecast.py": (["--tasks", "3", "--cycles", "2", "--days", "2", "--instants", "3"],
                          ["instants replayed", "median absolute error"]),
    "bench_scale.py": (["--tasks", "200"], ["bare client: cold sync", "explorer first display",
                                            "watcher", "search by glob"]),
}


def test_every_benchmark_has_a_smoke_run():
    assert set(SMOKE) == {p.name for p in BENCHMARKS.glob("bench_*.py")}


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs_at_a_tiny_size(script):
    if script == "bench_fuse.py" and not os.path.exists("/dev/fuse"):
        pytest.skip("this machine has no /dev/fuse")
    args, expected = SMOKE[script]
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                          capture_output=True, text=True, timeout=300, cwd=BENCHMARKS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for words in expected:
        assert words in proc.stdout, (words, proc.stdout[-2000:])
