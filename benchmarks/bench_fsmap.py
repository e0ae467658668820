"""How long a full walk of the filesystem mapping takes, against one full sync.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_fsmap.py --tasks 10000 100000``).
Every figure is also given as a ratio to one ``get_server_defs`` (the whole tree
transferred once) measured in the same run on the same server, because machines
here are shared and noisy: compare ratios, not seconds.

Walks measured:
- names:  scandir of every directory, names and kinds only (what
          ``find MNT -name '*.abo'`` needs);
- attrs:  names + stat of every non-content file (.att, state marker, .why:
          what ``ls -lR`` costs without task file contents);
- all:    stat and read of every file, task scripts/jobs/outputs included (demo only:
          one server request per task file).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecfnb import (
    DemoServer,  # noqa: E402
    FileSystemMap,  # noqa: E402
    Server,  # noqa: E402
)

CONTENT = (".ecf", ".job", ".out", ".man")


def walk(fs: FileSystemMap, mode: str, path: str = "/") -> int:
    """Visit the tree as ``find`` would (scandir, then descend); returns entries seen."""
    count = 0
    for entry in fs.scandir(path):
        name, child = entry.name, f"{path.rstrip('/')}/{entry.name}"
        count += 1
        if entry.kind == "dir":
            if name != ".server":
                count += walk(fs, mode, child)
        elif mode == "attrs" and not name.endswith(CONTENT):
            fs.stat(child)
        elif mode == "all":
            fs.stat(child)
            fs.read(child)
    return count


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench(label: str, demo: DemoServer, modes: list[str], repeat: int) -> None:
    server = Server(demo.host, demo.port, timeout=30)
    server.sync()
    import ecflow

    client = ecflow.Client(demo.host, str(demo.port))
    base, _ = timed(lambda: client.get_server_defs(), repeat)
    print(f"\n{label}: baseline get_server_defs {base * 1000:.1f} ms (median of {repeat})")
    full, _ = timed(lambda: (server.reset(), server.sync()), repeat)  # a full sync
    print(f"  Server full sync          {full * 1000:9.1f} ms  ratio {full / base:6.2f}")
    for mode in modes:
        # a new map each time: no content cache carried between runs
        seconds, entries = timed(lambda m=mode: walk(FileSystemMap(server), m), repeat)
        print(f"  fsmap walk {mode:<6} {entries:>8} entries {seconds * 1000:9.1f} ms  "
              f"ratio {seconds / base:6.2f}  ({seconds / entries * 1e6:.1f} µs/entry)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with DemoServer() as demo:
        bench("demo suite", demo, ["names", "attrs", "all"], args.repeat)
    for n in args.tasks:
        start = time.perf_counter()
        with DemoServer(tasks=n) as demo:
            print(f"\n(generated {n} tasks in {time.perf_counter() - start:.1f} s)")
            bench(f"generated {n} tasks", demo, ["names", "attrs"], args.repeat)


if __name__ == "__main__":
    main()
