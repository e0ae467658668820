"""How fast and how lean reading a big server log into task runs is.

Run: ``.venv/bin/python benchmarks/bench_timeline.py`` (``--mb 25 100``, ``--tasks 50000``).
A synthetic log is written to a temp directory for each size: mostly the lines a
busy server writes that are not state changes (``--news``/``--sync`` polls, child
commands, meters, labels), plus submitted/active/complete lines for the tasks and
their families, 5 % of runs aborting and retried. Each measurement runs in a fresh
child process so that peak RSS (VmHWM) growth is the parse's own, and is the best
of ``--repeat``. Figures are also given as a ratio to a plain line count of the same
file in the same run (``sum(1 for _ in open(f, 'rb'))``): machines here are shared
and noisy, so compare ratios, and the 25 MB vs 100 MB time ratio (linear: ~4).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILLER = [
    "MSG:[{t}] --news=0 {n} 5 :op@host [:NO_NEWS]",
    "MSG:[{t}] --news=0 {n} 5 :op@host [server({n},5) : *Small* scale changes(3) :NEWS]",
    "MSG:[{t}] --sync=0 {n} 5 :op@host",
    "MSG:[{t}] chd:meter progress {k} {task}",
    "MSG:[{t}] chd:label status 'step {k} of 900' {task}",
    "MSG:[{t}] --get :op@host",
    "MSG:[{t}] --stats :op@host",
]


def task_path(i: int) -> str:
    return f"/suite{i % 7}/f{i // 400:03d}/g{i // 20 % 20:02d}/t{i % 20:03d}"


def generate(path: Path, megabytes: float, tasks: int, seed: int = 1) -> dict[str, int]:
    """Write a log of about ``megabytes`` MB in which ``tasks`` tasks run (each once, or
    twice when aborted); state lines are spread evenly through the filler."""
    rng = random.Random(seed)
    target = int(megabytes * 1e6)
    clock = datetime(2026, 11, 27, 0, 0, 0)
    events: list[str] = []
    for i in range(tasks):
        task, family = task_path(i), task_path(i).rsplit("/", 1)[0]
        tries = 2 if rng.random() < 0.05 else 1
        for attempt in range(1, tries + 1):
            events += [f"LOG:[{{t}}]  submitted: {task} job_size:{rng.randrange(300, 3000)}",
                       f"LOG:[{{t}}]  submitted: {family}", f"MSG:[{{t}}] chd:init {task}",
                       f"LOG:[{{t}}]  active: {task}", f"LOG:[{{t}}]  active: {family}"]
            if attempt < tries:
                events += [f"MSG:[{{t}}] chd:abort {task}  exit 1",
                           f"LOG:[{{t}}]  aborted: {task} try-no: {attempt} reason: exit 1",
                           f"LOG:[{{t}}]  aborted: {family}"]
            else:
                events += [f"MSG:[{{t}}] chd:complete {task}",
                           f"LOG:[{{t}}]  complete: {task}", f"LOG:[{{t}}]  complete: {family}"]
    state_lines = sum(line.startswith("LOG:") for line in events)
    stamp = clock.strftime("%H:%M:%S %d.%m.%Y")
    event_bytes = sum(len(line.format(t=stamp)) + 1 for line in events)
    sample = [rng.choice(FILLER).format(t=stamp, n=n * 7919, k=n % 100, task=task_path(n))
              for n in range(1000)]
    filler_lines = max(0, target - event_bytes) / (sum(map(len, sample)) / 1000 + 1)
    lines = 0
    with open(path, "w", encoding="ascii", newline="\n") as log:
        chunk: list[str] = []
        for index, line in enumerate(events):
            fill = int((index + 1) * filler_lines / len(events)) - int(
                index * filler_lines / len(events))
            for _ in range(fill):
                clock += timedelta(milliseconds=150)
                chunk.append(rng.choice(FILLER).format(
                    t=clock.strftime("%H:%M:%S %d.%m.%Y"), n=lines, k=lines % 100,
                    task=task_path(rng.randrange(tasks))))
                lines += 1
            chunk.append(line.format(t=clock.strftime("%H:%M:%S %d.%m.%Y")))
            lines += 1
            if len(chunk) > 20000:
                log.write("\n".join(chunk) + "\n")
                chunk = []
        log.write("\n".join(chunk) + "\n")
    return {"bytes": path.stat().st_size, "lines": lines, "state_lines": state_lines}


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(kind: str, path: str) -> dict[str, float]:
    """In a child process: time one pass and the peak RSS it added."""
    sys.path.insert(0, str(ROOT))
    from ecfnb import timeline

    before = vm_hwm_kb()
    start = time.perf_counter()
    if kind == "count":
        with open(path, "rb") as log:
            result = sum(1 for _ in log)
    else:
        result = len(timeline(None, log_file=path).runs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": (vm_hwm_kb() - before) / 1024, "result": result}


def child(kind: str, path: Path, repeat: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--measure", kind, str(path)],
                             capture_output=True, check=True, text=True).stdout
        got = json.loads(out)
        if not best or got["seconds"] < best["seconds"]:
            best = got
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[25, 100])
    parser.add_argument("--tasks", type=int, default=50000, help="tasks in the largest log")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    largest = max(args.mb)
    seconds: dict[float, tuple[float, float]] = {}  # size asked -> (MB, seconds)
    with tempfile.TemporaryDirectory(prefix="ecfnb-bench-log-") as tmp:
        for size in args.mb:
            path = Path(tmp) / f"bench.{size:g}MB.ecf.log"
            tasks = max(1, round(args.tasks * size / largest))
            info = generate(path, size, tasks)
            mb = info["bytes"] / 1e6
            count = child("count", path, args.repeat)
            parse = child("parse", path, args.repeat)
            seconds[size] = (mb, parse["seconds"])
            print(f"{mb:6.1f} MB, {info['lines']:,} lines ({info['state_lines']:,} state "
                  f"lines), {tasks:,} tasks -> {parse['result']:,} runs")
            print(f"   timeline(log_file=): {parse['seconds']:.3f} s, "
                  f"{mb / parse['seconds']:.0f} MB/s, peak RSS +{parse['rss_mb']:.1f} MB "
                  f"({parse['rss_mb'] * 2**20 / max(1, parse['result']):.0f} bytes a run)")
            print(f"   line count:          {count['seconds']:.3f} s, "
                  f"{mb / count['seconds']:.0f} MB/s, peak RSS +{count['rss_mb']:.1f} MB")
            print(f"   ratio to line count: {parse['seconds'] / count['seconds']:.1f}x")
            path.unlink()
    if len(seconds) > 1:
        small, big = min(seconds), max(seconds)
        (mb_small, s_small), (mb_big, s_big) = seconds[small], seconds[big]
        per_mb = (s_big / mb_big) / (s_small / mb_small)
        print(f"linearity: {big:g} MB / {small:g} MB: time ratio {s_big / s_small:.2f} for a "
              f"size ratio of {mb_big / mb_small:.2f} (cost per MB x{per_mb:.2f})")


if __name__ == "__main__":
    main()
