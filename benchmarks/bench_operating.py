"""Operating on a generated server: the node menu's entries for a task (what a
right-click waits for in the kernel) against reading the node for the panel, and the
preview of a requeue of ~10,000 tasks against a plain walk of those tasks' names,
each baseline measured in the same run; with chromium, the time from a right-click
on a tree row to the menu on screen.

Run: ``.venv/bin/python benchmarks/bench_operating.py --tasks 100000``
(``--no-browser`` skips the right-click in chromium).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench_panels import timed  # noqa: E402  (the median of repeated calls, one home)

from ecfnb import DemoServer, Server  # noqa: E402


def a_task(server: Server) -> str:
    with server._defs() as defs:
        return next(n.get_abs_node_path() for n in defs.get_all_nodes()
                    if type(n).__name__ == "Task")


def bench_menu(server: Server, repeat: int) -> str:
    from ecfnb.widgets.menu import menu_entries

    task = a_task(server)
    node, _ = timed(lambda: server.node(task), repeat)
    menu, (_title, entries) = timed(lambda: menu_entries(server, [task]), repeat)
    print(f"menu of {task}: {len(entries)} entries in {menu * 1e3:.1f} ms (target <= 200 ms "
          f"with the browser's round trip); reading the node for the panel "
          f"{node * 1e3:.1f} ms; ratio {menu / node:.2f}")
    return task


def suites_for(server: Server, wanted: int) -> tuple[list[str], int]:
    """Suites in order until they hold ``wanted`` tasks (all if the server is smaller)."""
    chosen, count = [], 0
    with server._defs() as defs:
        for suite in defs.suites:
            if count >= wanted:
                break
            chosen.append(suite.get_abs_node_path())
            count += sum(1 for n in suite.get_all_nodes() if type(n).__name__ == "Task")
    return chosen, count


def bench_preview(server: Server, repeat: int, wanted: int) -> None:
    suites, tasks = suites_for(server, wanted)

    def plain() -> int:  # the baseline: every node's name of those suites
        with server._defs() as defs:
            return sum(len(n.name()) for s in suites
                       for n in defs.find_abs_node(s).get_all_nodes())

    walk, _ = timed(plain, repeat)
    ours, found = timed(lambda: server.preview("requeue", suites, seconds=5.0), repeat)
    print(f"preview of a requeue of {len(suites)} suite(s), {tasks:,} tasks: {ours:.3f} s "
          f"(target <= 1 s), complete={found.complete}, {len(found.changes):,} state "
          f"changes, {len(found.later):,} released later, {len(found.held):,} held; plain "
          f"walk of their names {walk:.3f} s; ratio {ours / walk:.1f}")


def bench_browser_menu(address: str, task: str, repeat: int) -> None:
    """Right-click on the task's row in a real JupyterLab: seconds until the menu shows."""
    from browser import (
        chromium_page,
        open_and_run,
        shut_kernels_down,
        start_lab,
        stop_lab,
        write_notebook,
    )

    with tempfile.TemporaryDirectory(prefix="ecfnb-bench-menu-") as root:
        lab = start_lab(root)
        try:
            write_notebook(lab, "menu.ipynb", "import ecfnb\n"
                           f"ecfnb.explore({address!r}, path={task!r}, interval=600)")
            with chromium_page() as page:
                open_and_run(page, lab, "menu.ipynb")
                row = page.locator(f".ecfnb-tree-node[data-path='{task}'] .ecfnb-tree-anchor")
                if row.count() == 0:
                    row = page.locator(".ecfnb-tree-selected > .ecfnb-tree-anchor")
                row.first.wait_for(timeout=60_000)
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    row.first.click(button="right")
                    page.locator(".ecfnb-menu").wait_for(timeout=10_000)
                    times.append(time.perf_counter() - start)
                    page.keyboard.press("Escape")
                    page.locator(".ecfnb-menu").wait_for(state="detached", timeout=10_000)
            print(f"right-click to menu on screen (browser, kernel, browser): median "
                  f"{statistics.median(times):.3f} s, worst {max(times):.3f} s "
                  f"(target <= 0.2 s)")
        finally:
            shut_kernels_down(lab)
            stop_lab(lab)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--preview-tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with DemoServer(tasks=args.tasks) as demo:
        server = Server(demo.address)
        server.sync()
        print(f"server: {args.tasks:,} generated tasks")
        task = bench_menu(server, args.repeat)
        bench_preview(server, args.repeat, args.preview_tasks)
        if not args.no_browser and os.path.exists("/usr/bin/chromium"):
            bench_browser_menu(demo.address, task, args.repeat)


if __name__ == "__main__":
    main()
