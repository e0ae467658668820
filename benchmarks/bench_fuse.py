"""FUSE mount benchmark: ``find -name '*.abo'`` (first, repeated, and after one server
change), ``ls -R | wc -l`` and ``cat`` of a 50 MB output through an ecfnb mount, against
(a) the CLI floor ``ecflow_client --get_state | grep aborted`` and (b) a naive mapping
that syncs on every FUSE call (``naive_fuse.py``, as the original example does), all on
one generated server. Ratios are against the CLI floor of the same round: the median of
three runs taken around that round's finds (the floor itself varies by 2x on a busy
machine). Each round mounts afresh, so its first ``find`` meets cold caches.

The daemon's CPU time is shown for the first find, and the last round adds a first
find on a mount whose daemon sleeps between requests (``ECFNB_FUSE_POLL_US=0``) to
show what polling for the next request buys and costs.

The daemon's counters (getxattr ``user.ecfnb.counters``) show where the time went:
listings built, readdir calls that reached the daemon (none on a repeat: the kernel
answered from its cache), seconds in fsmap listings and in the filler loop.

Run: ``.venv/bin/python benchmarks/bench_fuse.py --tasks 10000 100000 [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ecfnb  # noqa: E402
from ecfnb import (
    COUNTERS_XATTR,  # noqa: E402
    DemoServer,  # noqa: E402
    Server,  # noqa: E402
)


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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counters(mnt: str) -> dict[str, float]:
    return json.loads(os.getxattr(mnt, COUNTERS_XATTR))


def prepared(mnt: str, timeout: float = 600) -> float:
    """Wait until the daemon has prepared its listings (how long it took)."""
    start = time.perf_counter()
    while counters(mnt).get("prepared_done") != 1:
        if time.perf_counter() - start > timeout:
            raise SystemExit("the mount did not finish preparing its listings")
        time.sleep(0.1)
    return time.perf_counter() - start


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def delta(after: dict[str, float], before: dict[str, float]) -> str:
    keys = ("readdir", "listed", "listing_s", "filler_s")
    return " ".join(f"{k}={after[k] - before.get(k, 0):.2f}" if k.endswith("_s") else
                    f"{k}={after[k] - before.get(k, 0):.0f}" for k in keys)


def bench(n: int, rounds: int, interval: float, naive_timeout: float) -> None:
    with DemoServer(tasks=n) as demo, tempfile.TemporaryDirectory() as tmp:
        print(f"\n== generated server, {n} tasks ({demo.address}), {rounds} round(s)")
        floor_cmd = f"ecflow_client --port {demo.port} --get_state | grep -c aborted"
        server = Server(demo.host, demo.port, timeout=30)
        server.sync()
        aborted = list(_aborted_tasks(server))
        task = aborted[0]
        jobout = server.variable(task, "ECF_JOBOUT")
        os.makedirs(os.path.dirname(jobout), exist_ok=True)
        with open(jobout, "wb") as fh:  # as if the task had written 50 MB of output
            fh.write(b"".join(b"output line %08d\n" % i for i in range(50 * 1024 * 1024 // 21)))
        ratios: dict[str, list[float]] = {"first": [], "repeat": []}
        for r in range(rounds):
            mnt = os.path.join(tmp, f"mnt{r}")
            os.mkdir(mnt)
            info = ecfnb.mount(demo.address, mnt, interval=interval)
            try:
                waited = prepared(mnt)
                ready = counters(mnt)
                print(f" round {r}: listings prepared in the background in "
                      f"{ready.get('prepared_s', 0):.2f} s ({ready.get('prepared_dirs', 0):.0f} "
                      f"directories, {ready.get('prepared_names', 0):,.0f} names; waited "
                      f"{waited:.2f} s); daemon RSS {rss_mb(info.pid):.0f} MB")
                floors = [timed(floor_cmd, 300)[0]]
                cpu = cpu_seconds(info.pid)
                first, found = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
                cpu = cpu_seconds(info.pid) - cpu
                after_first = counters(mnt)
                floors.append(timed(floor_cmd, 300)[0])
                again, _ = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
                after_again = counters(mnt)
                floors.append(timed(floor_cmd, 300)[0])
                floor = statistics.median(floors)
                ratios["first"].append(first / floor)
                ratios["repeat"].append(again / floor)
                print(f" round {r}: CLI floor get_state|grep aborted "
                      f"{floor:6.2f} s (median of {', '.join(f'{f:.2f}' for f in floors)})")
                print(f"  ecfnb find -name '*.abo' (first)    {fmt(first, floor)}  "
                      f"({found.strip()}; daemon CPU {cpu:.2f} s; {delta(after_first, {})})")
                print(f"  ecfnb find -name '*.abo' (repeat)   {fmt(again, floor)}  "
                      f"({delta(after_again, after_first)})")
                if r == rounds - 1:
                    _without_polling(demo, tmp, floor, interval)
                    _after_change(demo, mnt, aborted[-1], interval, floor, after_again)
                    lsr, count = timed(f"ls -R {mnt} | wc -l", 600)
                    print(f"  ecfnb ls -R | wc -l                 {fmt(lsr, floor)}  "
                          f"({count.strip()})")
                    rel = task.lstrip("/") + ".out"
                    cat, _ = timed(f"cat {mnt}/{rel} > /dev/null", 600)
                    disk, _ = timed(f"cat {jobout} > /dev/null", 600)
                    print(f"  ecfnb cat 50 MB output              {cat:9.2f} s  "
                          f"(disk cat {disk:.2f} s)")
            finally:
                ecfnb.umount(mnt)
        if rounds > 1:
            for what, values in ratios.items():
                print(f" {what:6} find: ratio median {statistics.median(values):.2f} "
                      f"(min {min(values):.2f}, max {max(values):.2f})")
        _naive(demo, tmp, floor, naive_timeout)


def _without_polling(demo: DemoServer, tmp: str, floor: float, interval: float) -> None:
    """The same first find with the daemon sleeping between requests (no polling)."""
    mnt = os.path.join(tmp, "nopoll")
    os.mkdir(mnt)
    os.environ["ECFNB_FUSE_POLL_US"] = "0"  # read by the daemon at start
    try:
        info = ecfnb.mount(demo.address, mnt, interval=interval)
    finally:
        del os.environ["ECFNB_FUSE_POLL_US"]
    try:
        prepared(mnt)
        cpu = cpu_seconds(info.pid)
        seconds, found = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
        print(f"  same, daemon never polling          {fmt(seconds, floor)}  "
              f"({found.strip()}; daemon CPU {cpu_seconds(info.pid) - cpu:.2f} s)")
    finally:
        ecfnb.umount(mnt)


def _after_change(demo: DemoServer, mnt: str, task: str, interval: float, floor: float,
                  before: dict[str, float]) -> None:
    """One aborted task forced complete, then a find once the daemon has told the
    kernel (it syncs every quarter interval while the mount is in use; without push,
    once the view is due for a sync): only the directories whose listing changed are
    read again. The count found is checked against the CLI's."""
    pushed = counters(mnt).get("pushed_listing", 0)
    demo.client("--force=complete", task)
    started = time.perf_counter()
    if counters(mnt).get("push"):
        while counters(mnt).get("pushed_listing", 0) == pushed:
            if time.perf_counter() - started > interval * 2:
                raise SystemExit("the change was not pushed to the kernel")
            time.sleep(0.05)
    else:
        time.sleep(interval / 2 + 0.2)
    waited = time.perf_counter() - started
    seconds, found = timed(f"find {mnt} -name '*.abo' | wc -l", 600)
    truth = _shown_aborted(demo.port)
    print(f"  ecfnb find after 1 change           {fmt(seconds, floor)}  "
          f"({found.strip()}, the CLI says {truth}; pushed {waited:.1f} s after "
          f"the change; {delta(counters(mnt), before)})")


def _shown_aborted(port: int) -> int:
    """The nodes ``--get_state`` says are aborted and not suspended (a suspended node
    shows ``.sus``), read without ecfnb."""
    text = subprocess.run(["ecflow_client", "--port", str(port), "--get_state"],
                          capture_output=True, text=True, timeout=300).stdout
    count = 0
    for line in text.splitlines():
        kind, _space, rest = line.strip().partition(" ")
        if kind in ("suite", "family", "task", "alias") and "#" in rest:
            fields = dict(f.split(":", 1) for f in rest.split("#", 1)[1].split() if ":" in f)
            count += fields.get("state") == "aborted" and fields.get("suspended") != "1"
    return count


def _naive(demo: DemoServer, tmp: str, floor: float, naive_timeout: float) -> None:
    naive_mnt = os.path.join(tmp, "naive")
    os.mkdir(naive_mnt)
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "naive_fuse.py"),
                             demo.host, str(demo.port), naive_mnt])
    try:
        while not ecfnb.is_mounted(naive_mnt):
            time.sleep(0.05)
        naive, found = timed(f"find {naive_mnt} -name '*.abo' | wc -l", naive_timeout)
        print(f"  naive find -name '*.abo'            {fmt(naive, floor)}  "
              f"({found.strip() or f'stopped after {naive_timeout:.0f} s'})")
    finally:
        subprocess.run(["fusermount3", "-u", "-z", naive_mnt])
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # still inside a sync of the whole tree
            proc.kill()
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
    parser.add_argument("--rounds", type=int, default=1,
                        help="fresh mounts per size (first and repeat find each)")
    parser.add_argument("--interval", type=float, default=60.0,
                        help="the mount's --interval: no sync within interval/2")
    parser.add_argument("--naive-timeout", type=float, default=120)
    args = parser.parse_args()
    for n in args.tasks:
        bench(n, args.rounds, args.interval, args.naive_timeout)


if __name__ == "__main__":
    main()
