"""Abort watcher benchmark on a generated server: idle poll cost, detection latency and
CPU of the watching process under one state change per second, against the seed's
approach (full ``get_server_defs`` + walk of every task, every poll) in the same run.

Run: ``.venv/bin/python benchmarks/bench_watch.py --tasks 100000 --seconds 300``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecfnb import AbortWatcher, DemoServer  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed_worker(address: str, interval: float) -> None:
    """The seed's loop: every poll, the whole tree, then a walk for aborted tasks."""
    import ecflow

    host, port = address.rsplit(":", 1)
    client = ecflow.Client(host, port)
    reported: set[tuple[str, str]] = set()
    first = True
    while True:
        client.get_server_defs()
        for task in client.get_defs().get_all_tasks():
            if task.get_state() == ecflow.State.aborted:
                key = (task.get_abs_node_path(), task.get_state_change_time())
                if key not in reported:
                    reported.add(key)
                    if not first:
                        print(json.dumps({"path": key[0], "seen": time.time()}), flush=True)
        first = False
        time.sleep(interval)


def changer(demo: DemoServer, tasks: list[str], stop: threading.Event,
            forced: dict[str, float]) -> None:
    """One state change a second: a different task forced aborted each time."""
    i = 0
    while not stop.is_set():
        path = tasks[i % len(tasks)]
        demo.client("--force=aborted", path)
        forced[f"{path}#{i}"] = time.time()
        i += 1
        stop.wait(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--seed-worker", nargs=2, metavar=("ADDRESS", "INTERVAL"))
    args = parser.parse_args()
    if args.seed_worker:
        seed_worker(args.seed_worker[0], float(args.seed_worker[1]))
        return
    with DemoServer(tasks=args.tasks) as demo:
        print(f"generated server: {args.tasks} tasks on {demo.address}; interval "
              f"{args.interval} s; {args.seconds:.0f} s with one change a second")
        received: list[dict] = []
        watcher = AbortWatcher(demo.address, interval=args.interval, on_abort=lambda e: (
            received.append({"path": e.path, "seen": time.time()}))).start()
        seed = subprocess.Popen([sys.executable, __file__, "--seed-worker", demo.address,
                                 str(args.interval)], stdout=subprocess.PIPE, text=True)
        seen_seed: list[dict] = []
        threading.Thread(target=lambda: [seen_seed.append(json.loads(line))
                                         for line in seed.stdout], daemon=True).start()
        while watcher.polls < 1:
            time.sleep(0.1)
        time.sleep(args.interval * 2)
        polls0, cpu0 = watcher.polls, cpu_seconds(watcher.pid)
        seed_cpu0 = cpu_seconds(seed.pid)
        time.sleep(args.interval * 10)
        idle_polls = watcher.polls - polls0
        idle_cpu = cpu_seconds(watcher.pid) - cpu0
        seed_idle = cpu_seconds(seed.pid) - seed_cpu0
        print(f"idle: ecfnb {watcher.last_poll_requests} request(s)/poll, "
              f"{idle_cpu / max(1, idle_polls) * 1000:.1f} ms CPU/poll over {idle_polls} polls;"
              f" seed {seed_idle / 10 * 1000:.1f} ms CPU/poll (ratio "
              f"{seed_idle / 10 / max(1e-9, idle_cpu / max(1, idle_polls)):.0f}x)", flush=True)
        tasks = _quiet_tasks(demo, int(args.seconds) + 10)
        forced: dict[str, float] = {}
        stop = threading.Event()
        cpu1, seed_cpu1 = cpu_seconds(watcher.pid), cpu_seconds(seed.pid)
        thread = threading.Thread(target=changer, args=(demo, tasks, stop, forced))
        thread.start()
        time.sleep(args.seconds)
        stop.set()
        thread.join()
        time.sleep(args.interval * 3)
        cpu = cpu_seconds(watcher.pid) - cpu1
        seed_cpu = cpu_seconds(seed.pid) - seed_cpu1
        watcher.stop()
        seed.kill()
        print(f"under load ({len(forced)} aborts forced): ecfnb CPU {cpu:.1f} s "
              f"({cpu / args.seconds * 100:.1f} % of one core), events {len(watcher.events)}; "
              f"seed CPU {seed_cpu:.1f} s ({seed_cpu / args.seconds * 100:.1f} %), "
              f"events {len(seen_seed)}; CPU ratio seed/ecfnb {seed_cpu / max(1e-9, cpu):.1f}")
        print(f"detection latency ecfnb: {_latency(received, forced)}")
        print(f"detection latency seed:  {_latency(seen_seed, forced)}")


def _quiet_tasks(demo: DemoServer, count: int) -> list[str]:
    """Queued or complete tasks, so that every forced abort is a new one."""
    from ecfnb import Server

    server, found, stack = Server(demo.host, demo.port, timeout=30), [], ["/"]
    while stack and len(found) < count:
        for child in server.children(stack.pop()):
            if child.kind == "task" and child.state in ("queued", "complete"):
                found.append(child.path)
            elif child.kind != "task":
                stack.append(child.path)
    return found[:count]


def _latency(seen: list[dict], forced: dict[str, float]) -> str:
    """For each reported abort, the time since its task was last forced aborted."""
    times = sorted(forced.items(), key=lambda kv: kv[1])
    lat = []
    for item in seen:
        before = [t for key, t in times if key.split("#")[0] == item["path"] and t <= item["seen"]]
        if before:
            lat.append(item["seen"] - before[-1])
    if not lat:
        return "no events"
    return f"median {statistics.median(lat):.2f} s, max {max(lat):.2f} s over {len(lat)} events"


if __name__ == "__main__":
    main()
