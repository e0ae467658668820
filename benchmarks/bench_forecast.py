"""The completion forecast scored on logged days of a real server, against a naive
"last duration" forecast in the same run.

A suite runs ``--days`` times (a force requeue starts each "day"): a repeating family
(``--cycles`` steps) of ``--tasks`` tasks with triggers, a chain and a limit of two,
then a final task; each job sleeps a base time of its own times a random factor
(0.7-1.4, drawn per run), so no two days are the same. Then ``replay`` forecasts the
suite's completion at ``--instants`` moments of the last day, from the tree then and
the runs that had ended by then, and compares with when the suite did complete (the
log); the naive forecast is that day's start plus the previous day's length.

Run: ``.venv/bin/python benchmarks/bench_forecast.py`` (``--tasks 12 --cycles 3
--days 3 --instants 12``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecfnb import DemoServer, Server, history, replay  # noqa: E402

#: A job's start and end (as the tests' jobs: the server reached as localhost).
HEAD = """#!/bin/bash
export ECF_PORT=%ECF_PORT% ECF_HOST=localhost ECF_NAME=%ECF_NAME% ECF_PASS=%ECF_PASS%
export ECF_TRYNO=%ECF_TRYNO% ECF_RID=$$ ECF_TIMEOUT=30
ecflow_client --init=$$
"""
TAIL = "ecflow_client --complete\n"


def suite(tasks: int, cycles: int) -> tuple[str, dict[str, str]]:
    """The definition and its scripts."""
    lines = ["suite day", "  edit ECF_HOME '{home}'", "  edit ECF_TRIES '1'",
             "  limit lanes 2", "  family cyc", f"    repeat integer STEP 1 {cycles}",
             "    inlimit lanes"]
    files: dict[str, str] = {}
    rng = random.Random(7)
    for i in range(tasks):
        lines.append(f"    task t{i:02d}")
        if i % 3:
            lines.append(f"      trigger t{i - 1:02d} == complete")
        base = rng.uniform(0.4, 1.6)
        files[f"day/cyc/t{i:02d}.ecf"] = job(base)
    lines += ["  endfamily", "  task last", "    trigger cyc == complete", "endsuite", ""]
    files["day/last.ecf"] = job(0.5)
    return "\n".join(lines), files


def job(base: float) -> str:
    """Sleep ``base`` s times a factor drawn per run (no '%': ecFlow's variable mark)."""
    return (HEAD + f"sleep $(awk -v s=$$ 'BEGIN {{srand(s); print {base:.2f} * "
            "(0.7 + 0.7 * rand())}')\n" + TAIL)


def state(demo: DemoServer, path: str) -> str:
    return demo.client("--query", "state", path).stdout.decode().strip()


def wait(demo: DemoServer, path: str, wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while state(demo, path) != wanted:
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} not {wanted} after {timeout:.0f} s")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--instants", type=int, default=12)
    args = parser.parse_args()
    definition, files = suite(args.tasks, args.cycles)
    with DemoServer(definition=definition, files=files) as demo:
        for day in range(args.days):
            if day:
                time.sleep(1.1)  # the log stamps whole seconds: days apart
                demo.client("--requeue=force", "/day")
            wait(demo, "/day", "complete", timeout=60 + 10 * args.tasks * args.cycles)
        server = Server(demo.address)
        past = history(server)
        changes = past.changes_of("/day")
        ends = [m for m, s, _t, _r in changes if s == "complete"]
        # the last day: from the requeue after the day before ended (the suite is also
        # 'queued' between its tasks: not a start)
        begin = next(m for m, _s, _t, _r in changes if m > ends[-2]) if len(ends) > 1 \
            else past.span[0]
        end = ends[-1]
        span = (end - begin).total_seconds()
        instants = [begin + timedelta(seconds=span * (k + 0.5) / args.instants)
                    for k in range(args.instants)]
        start = time.perf_counter()
        found = replay(server, "/day", instants)
        seconds = time.perf_counter() - start
    errors = [p.error.total_seconds() for p in found.points if p.error is not None]
    naive = [p.naive_error.total_seconds() for p in found.points if p.naive_error is not None]
    cover = found.coverage
    print(f"logged days: {args.days} of {args.tasks} tasks x {args.cycles} cycles, the last "
          f"{span:.0f} s long; {len(found.points)} instants replayed in {seconds:.2f} s")
    for p in found.points:
        print(f"  at +{(p.instant - begin).total_seconds():5.1f} s: forecast "
              f"{_off(p.earliest, begin)} / {_off(p.expected, begin)} / "
              f"{_off(p.latest, begin)}, naive {_off(p.naive, begin)}, actual "
              f"{_off(p.actual, begin)}")
    if errors and naive:
        med = sorted(errors)[len(errors) // 2]
        nmed = sorted(naive)[len(naive) // 2]
        print(f"forecast median absolute error {med:.1f} s; naive last-duration forecast "
              f"{nmed:.1f} s; ratio {med / nmed if nmed else float('inf'):.2f} "
              f"(lower is better); actual inside the range at "
              f"{cover:.0%} of instants" if cover is not None else "")
    else:
        print("forecast median absolute error: not enough points to score")


def _off(moment, begin) -> str:  # noqa: ANN001 - datetimes
    return f"+{(moment - begin).total_seconds():5.1f}" if moment else "    ?"


if __name__ == "__main__":
    main()
