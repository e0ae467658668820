"""FUSE mount benchmark: ``find -name '*.abo'``, ``ls -R | wc -l`` and ``cat`` of a 50 MB
output through an ecfnb mount, against (a) the CLI floor
``ecflow_client --get_state | grep aborted`` and (b) a naive mapping that syncs on every
FUSE call (``naive_fuse.py``, as the original example does), all in one run on one
generated server. Ratios are against the CLI floor of the same run.

Run: ``.venv/bin/python benchmarks/bench_fuse.py --tasks 10000 100000``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecfnb import mount  # noqa: E402
from ecfnb.demo import DemoServer  # noqa: E402
from ecfnb.server import Server  # noqa: E402


def timed(cmd: str, timeout: float) -> tuple[float, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
        out = proc.stdout
    except subprocess.TimeoutExpired:
        return float("inf"), ""
    return time.perf_counter() - start, out


def fmt(seconds: float, floor: float) -> str:
    if seconds == float("inf"):
        return "   timeout"
    return f"{seconds:9.2f} s  ratio {seconds / floor:7.2f}"


def bench(n: int, naive_timeout: float) -> None:
    with DemoServer(tasks=n) as demo, tempfile.TemporaryDirectory() as tmp:
        print(f"\n== generated server, {n} tasks ({demo.address})")
        floor, out = timed(f"ecflow_client --port {demo.port} --get_state | grep -c aborted", 300)
        print(f"  CLI floor get_state|grep aborted   {floor:9.2f} s  ({out.strip()} lines)")
        server = Server(demo.host, demo.port, timeout=30)
        server.sync()
        task = next(p for p in _aborted_tasks(server))
        jobout = server.variable(task, "ECF_JOBOUT")
        os.makedirs(os.path.dirname(jobout), exist_ok=True)
        with open(jobout, "wb") as fh:  # as if the task had written 50 MB of output
            fh.write(b"".join(b"output line %08d\n" % i for i in range(50 * 1024 * 1024 // 21)))
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        mount.start(demo.address, mnt, interval=60)
        try:
            first, found = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
            print(f"  ecfnb find -name '*.abo' (first)    {fmt(first, floor)}  ({found.strip()})")
            again, _ = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
            print(f"  ecfnb find -name '*.abo' (repeat)   {fmt(again, floor)}")
            lsr, count = timed(f"ls -R {mnt} | wc -l", 600)
            print(f"  ecfnb ls -R | wc -l                 {fmt(lsr, floor)}  ({count.strip()})")
            rel = task.lstrip("/") + ".out"
            cat, _ = timed(f"cat {mnt}/{rel} > /dev/null", 600)
            disk, _ = timed(f"cat {jobout} > /dev/null", 600)
            print(f"  ecfnb cat 50 MB output              {cat:9.2f} s  (disk cat {disk:.2f} s)")
        finally:
            mount.stop(mnt)
        naive_mnt = os.path.join(tmp, "naive")
        os.mkdir(naive_mnt)
        proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "naive_fuse.py"),
                                 demo.host, str(demo.port), naive_mnt])
        try:
            while not mount.is_mounted(naive_mnt):
                time.sleep(0.05)
            naive, found = timed(f"find {naive_mnt} -name '*.abo' | wc -l", naive_timeout)
            print(f"  naive find -name '*.abo'            {fmt(naive, floor)}  "
                  f"({found.strip() or f'stopped after {naive_timeout:.0f} s'})")
        finally:
            subprocess.run(["fusermount3", "-u", "-z", naive_mnt])
            proc.wait(30)


def _aborted_tasks(server: Server):
    stack = ["/"]
    while stack:
        path = stack.pop()
        for child in server.children(path):
            if child.kind == "task" and child.state == "aborted":
                yield child.path
            elif child.kind != "task":
                stack.append(child.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[10000])
    parser.add_argument("--naive-timeout", type=float, default=120)
    args = parser.parse_args()
    for n in args.tasks:
        bench(n, args.naive_timeout)


if __name__ == "__main__":
    main()
