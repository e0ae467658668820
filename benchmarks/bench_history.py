"""The tree at a past instant from a big server log, against one cold sync of the same
server in the same run; the time slider's steps (the rows on screen, as the explorer
reads them) and the whole tree at an instant; RSS the history adds.

The log is synthetic but shaped like a busy server's: every few seconds a run of one
of the server's own tasks (submitted, active, complete, and the family lines that
follow), 5 % aborting and retried, between the polls, child commands, meters and
labels that make up most of a real log (three to five lines a state change), with
5.9's unpadded stamps over as many days as the size takes.

Run: ``.venv/bin/python benchmarks/bench_history.py --tasks 100000 --log-mb 1000``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecfnb import DemoServer, Server, history  # noqa: E402

FILLER = ("MSG:[{t}] --news=0 {n} 5 :op@host [:NO_NEWS]",
          "MSG:[{t}] --sync=0 {n} 5 :op@host",
          "MSG:[{t}] chd:meter progress {k} {task}",
          "MSG:[{t}] chd:label status 'step {k} of 900' {task}")
BEGIN = datetime(2027, 3, 5, 0, 0, 0)  # one-digit day and month, as 5.9 writes them


def stamp(moment: datetime) -> str:
    return f"{moment.hour}:{moment.minute:02d}:{moment.second:02d} " \
           f"{moment.day}.{moment.month}.{moment.year}"


def write_log(path: Path, megabytes: float, tasks: list[str], seed: int = 1
              ) -> tuple[int, datetime]:
    """A log of about ``megabytes`` MB of runs of ``tasks``; its size and last stamp."""
    rng = random.Random(seed)
    written, moment, n = 0, BEGIN, 0
    with open(path, "w") as out:
        while written < megabytes * 1e6:
            block = []
            for _ in range(200):
                task = rng.choice(tasks)
                family = task.rsplit("/", 1)[0]
                moment += timedelta(seconds=rng.randint(0, 2))
                t = stamp(moment)
                n += 1
                block.append(f"LOG:[{t}]  submitted: {task} job_size:1200")
                block.append(f"LOG:[{t}]  submitted: {family}")
                for line in rng.sample(FILLER, 3):
                    block.append(line.format(t=t, n=n, k=rng.randint(0, 100), task=task))
                block.append(f"LOG:[{t}]  active: {task}")
                moment += timedelta(seconds=rng.randint(0, 1))
                t = stamp(moment)
                if rng.random() < 0.05:
                    block.append(f"LOG:[{t}]  aborted: {task} try-no: 1 reason: trap")
                    block.append(f"LOG:[{t}]  aborted: {family}")
                    block.append(f"LOG:[{t}]  submitted: {task} job_size:1200")
                    block.append(f"LOG:[{t}]  active: {task}")
                block.append(f"LOG:[{t}]  complete: {task}")
                block.append(f"MSG:[{t}] --news=0 {n} 5 :op@host [:NO_NEWS]")
            text = "\n".join(block) + "\n"
            out.write(text)
            written += len(text)
    return written, moment


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cold_sync(address: str) -> float:
    server = Server(address)
    start = time.perf_counter()
    server.sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--log-mb", type=float, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1500, help="rows on screen")
    args = parser.parse_args()
    with DemoServer(tasks=args.tasks) as demo, \
            tempfile.TemporaryDirectory(prefix="ecfnb-bench-history-") as tmp:
        server = Server(demo.address)
        server.sync()
        rows = server.rows("/")
        tasks = [r.path for r in rows if r.kind == "task"]
        log = Path(tmp) / "big.ecf.log"
        size, last = write_log(log, args.log_mb, tasks)
        print(f"server: {len(tasks):,} tasks, {len(rows):,} nodes; log {size / 1e6:,.0f} MB "
              f"from {BEGIN:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} (UTC stamps)")
        syncs = [cold_sync(demo.address) for _ in range(args.repeat)]
        baseline = statistics.median(syncs)
        middle = (BEGIN + (last - BEGIN) / 2).replace(tzinfo=timezone.utc)
        builds, before = [], rss_mb()
        past = None
        for _ in range(args.repeat):
            start = time.perf_counter()
            past = history(server, log_file=log, tz="UTC")
            tree = past.at(middle)
            builds.append(time.perf_counter() - start)
        assert past is not None
        grown = rss_mb() - before
        build = statistics.median(builds)
        print(f"the tree at an instant from a {size / 1e6:,.0f} MB log (read + rebuild, "
              f"{len(tree):,} nodes): {build:.2f} s; one cold sync {baseline:.2f} s; ratio "
              f"{build / baseline:.2f} (target <= 1); RSS +{grown:.0f} MB")
        rng = random.Random(2)
        shown = rng.sample([r.path for r in rows], min(args.rows, len(rows)))
        steps = []
        span = (last - BEGIN).total_seconds()
        for _ in range(args.steps):
            moment = (BEGIN + timedelta(seconds=rng.uniform(0, span))).replace(
                tzinfo=timezone.utc)
            start = time.perf_counter()
            for path in shown:
                past.node(path, moment)
            steps.append(time.perf_counter() - start)
        whole = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            past.at(middle)
            whole.append(time.perf_counter() - start)
        print(f"slider step ({len(shown):,} rows on screen): median "
              f"{statistics.median(steps):.4f} s, worst {max(steps):.4f} s (target <= 0.2); "
              f"the whole tree at an instant {statistics.median(whole):.3f} s")


if __name__ == "__main__":
    main()
