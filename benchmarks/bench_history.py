"""The tree at a past instant from a big server log, against one cold sync of the same
server in the same run: the rows on screen (as the explorer reads them) and every node,
from the log's stored stretches (``logstore``, stored once first: its time and size)
and read backwards without them; the time slider's steps and jumps; RSS it adds.

The log is synthetic but shaped like a busy server's: cycles that each run every task
of the server, in the suite's order (queued, submitted, active, complete, and the
lines of every node above that follow), 5 % aborting and retried, between the polls,
child commands, meters and labels that make up most of a real log (three to five
lines a state change), with 5.9's unpadded stamps over as many days as the size
takes. The server's nodes did not live that log, so the tree is read against what
the log says each node's last change was (the ``since`` a server that wrote it would
have): the same reading ``history()`` does, with the server's rows read as it does.

Run: ``.venv/bin/python benchmarks/bench_history.py --tasks 100000 --log-mb 1000``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecfnb import DemoServer, Server, history  # noqa: E402
from ecfnb._base.serverlog import LogClock  # noqa: E402
from ecfnb._map.history import History  # noqa: E402
from ecfnb._map.logindex import LogIndex  # noqa: E402
from ecfnb._map.logstore import LogStore  # noqa: E402

FILLER = ("MSG:[{t}] --news=0 {n} 5 :op@host [:NO_NEWS]",
          "MSG:[{t}] --sync=0 {n} 5 :op@host",
          "MSG:[{t}] chd:meter progress {k} {task}",
          "MSG:[{t}] chd:label status 'step {k} of 900' {task}")
BEGIN = datetime(2027, 3, 5, 0, 0, 0)  # one-digit day and month, as 5.9 writes them


def stamp(moment: datetime) -> str:
    return f"{moment.hour}:{moment.minute:02d}:{moment.second:02d} " \
           f"{moment.day}.{moment.month}.{moment.year}"


def write_log(path: Path, megabytes: float, tasks: list[str], seed: int = 1,
              last: dict[str, tuple[str, datetime]] | None = None) -> tuple[int, datetime]:
    """A log of about ``megabytes`` MB of runs of ``tasks``; its size and last stamp;
    ``last`` gets each node's last state and moment."""
    rng = random.Random(seed)
    last = {} if last is None else last
    written, moment, n = 0, BEGIN, 0
    cycle: list[str] = []
    with open(path, "w") as out:
        while written < megabytes * 1e6:
            block = []
            for _ in range(200):
                if not cycle:  # a new cycle runs every task, in the suite's order
                    cycle = list(reversed(tasks))
                task = cycle.pop()
                moment += timedelta(seconds=rng.randint(0, 2))
                t = stamp(moment)
                n += 1
                parents = [task[:i] for i in range(len(task) - 1, 0, -1) if task[i] == "/"]
                block.append(f"LOG:[{t}]  queued: {task}")  # its family's new cycle
                block.append(f"LOG:[{t}]  submitted: {task} job_size:1200")
                block.extend(f"LOG:[{t}]  submitted: {up}" for up in parents)
                for line in rng.sample(FILLER, 3):
                    block.append(line.format(t=t, n=n, k=rng.randint(0, 100), task=task))
                block.append(f"LOG:[{t}]  active: {task}")
                block.extend(f"LOG:[{t}]  active: {up}" for up in parents)
                moment += timedelta(seconds=rng.randint(0, 1))
                t = stamp(moment)
                if rng.random() < 0.05:
                    block.append(f"LOG:[{t}]  aborted: {task} try-no: 1 reason: trap")
                    block.extend(f"LOG:[{t}]  aborted: {up}" for up in parents)
                    block.append(f"LOG:[{t}]  submitted: {task} job_size:1200")
                    block.append(f"LOG:[{t}]  active: {task}")
                block.append(f"LOG:[{t}]  complete: {task}")
                last[task] = ("complete", moment)
                for up in parents:
                    last[up] = ("active", moment)
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
    parser.add_argument("--stretch", type=int, help="bytes of log per stored stretch "
                        "(default: logstore's; small to store the stretches of a small log)")
    args = parser.parse_args()
    if args.stretch:
        os.environ["ECFNB_LOG_STRETCH"] = str(args.stretch)
    with DemoServer(tasks=args.tasks) as demo, \
            tempfile.TemporaryDirectory(prefix="ecfnb-bench-history-") as tmp:
        server = Server(demo.address)
        server.sync()
        rows = server.rows("/")
        tasks = [r.path for r in rows if r.kind == "task"]
        log = Path(tmp) / "big.ecf.log"
        ended: dict[str, tuple[str, datetime]] = {}
        size, last = write_log(log, args.log_mb, tasks, last=ended)
        print(f"server: {len(tasks):,} tasks, {len(rows):,} nodes; log {size / 1e6:,.0f} MB "
              f"from {BEGIN:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} (UTC stamps)")
        syncs = [cold_sync(demo.address) for _ in range(args.repeat)]
        baseline = statistics.median(syncs)
        # the log's stretches stored once (what ``history()`` starts in a child process)
        os.environ["ECFNB_CACHE"] = str(Path(tmp) / "cache")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ecfnb._map.logstore", str(log)], cwd=ROOT,
                       check=True)
        built = time.perf_counter() - started
        store_mb = sum(f.stat().st_size for f in (Path(tmp) / "cache").rglob("*")
                       if f.is_file()) / 1e6
        kept = LogStore.open(log)
        kept.refresh()
        print(f"{len(kept.records)} stretches stored once, in a child process: {built:.1f} s, "
              f"{store_mb:.1f} MB ({store_mb / (size / 1e6):.1%} of the log)")
        # the server's own opening (its sync, the log mapped, its span; rows when needed)
        opens = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            own = history(server, log_file=log, tz="UTC")
            opens.append(time.perf_counter() - start)
        opened = statistics.median(opens)
        # what reading the server's nodes now adds (``history()`` reads them when needed:
        # one by one for the rows on screen, every row for the whole tree)
        fresh = history(server, log_file=log, tz="UTC")
        rng = random.Random(2)
        shown = rng.sample([r.path for r in rows], min(args.rows, len(rows)))
        start = time.perf_counter()
        for path in shown:
            fresh.current[path]
        now_shown = time.perf_counter() - start
        start = time.perf_counter()
        fresh.current.rows()
        now_all = time.perf_counter() - start
        # the server's nodes did not live the log: what it says they did last
        current = dict(own.current.items())
        for path, (state, moment) in ended.items():
            if path in current:
                current[path] = (state, moment.replace(tzinfo=timezone.utc), 1)
        tasks_set = {p for p in current if own.current.kind(p) in ("task", "alias")}
        span = (last - BEGIN).total_seconds()

        def opened_history(stored: bool) -> History:
            return History(LogIndex.open(log, LogClock(), grep=not stored), current, str(log),
                           LogClock(), tasks_set, LogStore.open(log) if stored else None)
        for share in (0.5, 0.9):
            instant = (BEGIN + timedelta(seconds=span * share)).replace(tzinfo=timezone.utc)
            screen, whole, backwards, before = [], [], [], rss_mb()
            for _ in range(args.repeat):
                past = opened_history(True)
                start = time.perf_counter()
                tree = past.at(instant)
                for path in shown:
                    tree.nodes.get(path)
                screen.append(time.perf_counter() - start)
                start = time.perf_counter()
                every = dict(tree.nodes.items())
                whole.append(time.perf_counter() - start + screen[-1])
                past = opened_history(False)
                start = time.perf_counter()
                old = past.at(instant)
                backwards.append(time.perf_counter() - start)
                wrong = sum(1 for p, n in old.nodes.items() if every[p] != n)
            grown = rss_mb() - before
            shown_cost = opened + now_shown + statistics.median(screen)
            print(f"the tree at {share:.0%} of a {size / 1e6:,.0f} MB log ({len(every):,} "
                  f"nodes, {len(shown):,} on screen): {shown_cost:.2f} s (open {opened:.2f} + "
                  f"their nodes now {now_shown:.2f} + as they were "
                  f"{statistics.median(screen):.2f}); one cold sync {baseline:.2f} s; ratio "
                  f"{shown_cost / baseline:.2f} (target <= 1)")
            whole_cost = opened + now_all + statistics.median(whole)
            back_cost = opened + now_all + statistics.median(backwards)
            print(f"  every node at that instant: {whole_cost:.2f} s (every node now "
                  f"{now_all:.2f} + as they were {statistics.median(whole):.2f}), ratio "
                  f"{whole_cost / baseline:.2f}; read backwards without the stored stretches "
                  f"{back_cost:.2f} s, ratio {back_cost / baseline:.2f}; nodes that differ "
                  f"between the two readings: {wrong}; RSS +{grown:.0f} MB")
        for label, stored in (("stored stretches", True), ("read backwards", False)):
            past = opened_history(stored)
            moment = (BEGIN + timedelta(seconds=span * 0.5)).replace(tzinfo=timezone.utc)
            past.at(moment)  # the first step
            forward, jumps = [], []
            for _ in range(args.steps):  # a drag: a hundredth of the span at a time
                moment += timedelta(seconds=span / 100)
                start = time.perf_counter()
                tree = past.at(moment)
                for path in shown:
                    tree.nodes.get(path)
                forward.append(time.perf_counter() - start)
            for _ in range(max(2, args.steps // 4)):  # jumps anywhere, back or forth
                moment = (BEGIN + timedelta(seconds=rng.uniform(0, span))).replace(
                    tzinfo=timezone.utc)
                start = time.perf_counter()
                tree = past.at(moment)
                for path in shown:
                    tree.nodes.get(path)
                jumps.append(time.perf_counter() - start)
            print(f"slider step forward by 1% of the span ({len(shown):,} rows on screen, "
                  f"{label}): median {statistics.median(forward):.3f} s, worst "
                  f"{max(forward):.3f} s (target <= 0.2); a jump anywhere: median "
                  f"{statistics.median(jumps):.3f} s")


if __name__ == "__main__":
    main()
