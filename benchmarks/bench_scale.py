"""Every surface on one big generated server (``ecfnb demo --tasks N``'s suite), each in
a fresh process, against a bare synced client measured in the same run: the explorer's
first display (kernel side) against one cold sync, the table sorted by time, a glob
search, the watcher's first and idle polls, the mount's background preparation and
first ``find -name '*.abo'`` against the CLI floor; RSS of each against the bare
client's.

Run: ``.venv/bin/python benchmarks/bench_scale.py --tasks 1000000`` (the server alone
takes minutes to load at that size; ``--no-mount`` skips FUSE).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_explorer import private_mb  # noqa: E402

import ecfnb  # noqa: E402
from ecfnb import DemoServer  # noqa: E402
from ecfnb._fuse.ops import COUNTERS_XATTR  # noqa: E402


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0



def surface(name: str, address: str) -> dict[str, float]:
    """In a fresh process: one surface's time(s) and the RSS it leaves."""
    from ecfnb import Server

    base = rss_mb()
    start = time.perf_counter()
    if name == "bare":
        Server(address).sync()
        return {"seconds": time.perf_counter() - start, "rss_mb": rss_mb() - base}
    if name == "explorer":
        from ecfnb import explore

        explorer = explore(address, interval=3600)
        seconds = time.perf_counter() - start
        view = explorer.tree.views[0]
        explorer.tree.refresh(wait=True, timeout=600)  # the poller's first poll done
        pid = view.follower.pid if view.follower is not None else None
        out = {"seconds": seconds, "rss_mb": rss_mb() - base,
               "poller_rss_mb": rss_mb(pid) if pid else 0.0,
               "poller_own_mb": private_mb(pid) if pid else 0.0}
        explorer.close()
        return out
    server = Server(address)
    server.sync()
    synced = time.perf_counter() - start
    start = time.perf_counter()
    if name == "table":
        from ecfnb import TableQuery, table_page

        table_page(server, "/", TableQuery(sort="since", descending=True), 0)
    elif name == "search":
        from ecfnb import SearchQuery

        server.search(SearchQuery(name="t00*"))
    elif name == "watcher":
        from ecfnb._watch.poller import AbortDetector

        detector = AbortDetector(server)
        detector.poll()
        first = time.perf_counter() - start
        start = time.perf_counter()
        detector.poll()
        return {"seconds": first, "idle_s": time.perf_counter() - start, "sync_s": synced,
                "rss_mb": rss_mb() - base}
    return {"seconds": time.perf_counter() - start, "sync_s": synced,
            "rss_mb": rss_mb() - base}


def child(name: str, address: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--surface", name, address],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(command: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, capture_output=True, check=True, timeout=3600)
    return time.perf_counter() - start


def mount(demo: DemoServer) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mnt = os.path.join(tmp, "m")
        os.mkdir(mnt)
        info = ecfnb.mount(demo.address, mnt, interval=60)
        try:
            start = time.perf_counter()
            while json.loads(os.getxattr(mnt, COUNTERS_XATTR)).get("prepared_done") != 1:
                time.sleep(0.2)
            ready = json.loads(os.getxattr(mnt, COUNTERS_XATTR))
            print(f"mount: listings prepared in {ready.get('prepared_s', 0):.1f} s "
                  f"({ready.get('prepared_dirs', 0):,.0f} directories, "
                  f"{ready.get('prepared_names', 0):,.0f} names; waited "
                  f"{time.perf_counter() - start:.1f} s); daemon RSS {rss_mb(info.pid):,.0f} MB")
            floor_cmd = f"ecflow_client --port {demo.port} --get_state | grep -c aborted"
            floors = [timed(floor_cmd)]
            first = timed(f"find {mnt} -name '*.abo' | wc -l")
            floors.append(timed(floor_cmd))
            again = timed(f"find {mnt} -name '*.abo' | wc -l")
            floors.append(timed(floor_cmd))
            floor = statistics.median(floors)
            print(f"find -name '*.abo': first {first:.2f} s, ratio {first / floor:.2f} to the "
                  f"CLI floor {floor:.2f} s (target <= 1.5); again {again:.2f} s, ratio "
                  f"{again / floor:.2f}")
        finally:
            ecfnb.umount(mnt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--no-mount", action="store_true")
    parser.add_argument("--surface", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.surface:
        print(json.dumps(surface(*args.surface)))
        return
    start = time.perf_counter()
    with DemoServer(tasks=args.tasks) as demo:
        print(f"server: {args.tasks:,} generated tasks, started in "
              f"{time.perf_counter() - start:.0f} s; ecflow_server RSS "
              f"{rss_mb(demo.process.pid) if demo.process else 0:,.0f} MB")
        bare = child("bare", demo.address)
        print(f"bare client: cold sync {bare['seconds']:.2f} s, RSS +{bare['rss_mb']:,.0f} MB")
        found = child("explorer", demo.address)
        print(f"explorer first display (kernel): {found['seconds']:.2f} s, ratio "
              f"{found['seconds'] / bare['seconds']:.2f} to one cold sync (target <= 1.5); "
              f"kernel RSS +{found['rss_mb']:,.0f} MB, poller RSS {found['poller_rss_mb']:,.0f} "
              f"MB of which its own {found['poller_own_mb']:,.0f} MB (forked from the kernel: "
              f"the rest is the kernel's tree, shared; bare client +{bare['rss_mb']:,.0f} MB)")
        for name, what in (("table", "table sorted by time, first page"),
                           ("search", "search by glob 't00*'"), ("watcher", "watcher")):
            one = child(name, demo.address)
            extra = f", idle poll {one['idle_s']:.3f} s" if "idle_s" in one else ""
            print(f"{what}: {one['seconds']:.2f} s after a {one['sync_s']:.2f} s sync"
                  f"{extra}; RSS +{one['rss_mb']:,.0f} MB")
        if not args.no_mount and os.path.exists("/dev/fuse"):
            mount(demo)


if __name__ == "__main__":
    main()
