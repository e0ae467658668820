"""Operator panels on a generated server: the triggers of a node with 1,000 dependants
(kernel time, and the browser's draw of the view's HTML with its longest freeze), the
table sorted by state-change time over every node against one cold sync, the first
page of a big server log (time and RSS growth) against ``tail``, and a glob search
against a plain Python walk of the names, each baseline measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_panels.py --tasks 100000 --log-mb 1000``
(``--no-browser`` skips the draw in chromium).
"""

from __future__ import annotations

import argparse
import fnmatch
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

from ecfnb import DemoServer, Server  # noqa: E402

CENTRE = "/hub/centre"


def add_hub(demo: DemoServer, dependants: int) -> None:
    """A suite where ``dependants`` tasks wait on one."""
    lines = ["suite hub", "  task centre", "  family deps"]
    for i in range(dependants):
        lines += [f"    task d{i:04d}", f"      trigger {CENTRE} == complete"]
    lines += ["  endfamily", "endsuite", ""]
    path = demo.home / "hub.def"
    path.write_text("\n".join(lines))
    demo.client("--load", str(path), timeout=120)
    demo.client("--begin", "hub")


def timed(call, repeat: int) -> tuple[float, object]:
    """The median time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def cold_sync(address: str) -> float:
    server = Server(address)
    start = time.perf_counter()
    server.sync()
    return time.perf_counter() - start


def bench_triggers(server: Server, repeat: int, browser: bool) -> None:
    from ecfnb._map import triggers
    from ecfnb.widgets import tree_html, views_html

    server.sync()
    start = time.perf_counter()
    first = triggers.triggers(server, CENTRE)
    index_s = time.perf_counter() - start
    again, view = timed(lambda: triggers.triggers(server, CENTRE), repeat)
    picture_s, picture = timed(lambda: triggers.neighbourhood(server, CENTRE, depth=2),
                               repeat)
    page = views_html.triggers_html(view, picture)
    print(f"triggers of a node with {first.waited_by_total} dependants: first "
          f"{index_s:.3f} s (every expression of the server indexed), then "
          f"{again:.4f} s; picture (2 levels) {picture_s:.4f} s; HTML {len(page) / 1e3:.0f} kB, "
          f"{page.count('ecfnb-box')} boxes, {page.count('ecfnb-ref')} list entries")
    if browser:
        draw, freeze = browser_draw(tree_html.EXPLORER_CSS + page)
        print(f"browser draw of the triggers view: {draw:.3f} s, longest main-thread "
              f"freeze {freeze:.3f} s (target < 0.5 s)")


def browser_draw(html: str) -> tuple[float, float]:
    """Seconds from inserting ``html`` to the next frame, and the longest task seen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                      args=["--no-sandbox"])
        page = chromium.new_page()
        page.set_content("<html><body><div id=box></div></body></html>")
        page.evaluate("""() => { window.__long = 0;
            new PerformanceObserver(l => { for (const e of l.getEntries())
              window.__long = Math.max(window.__long, e.duration); })
              .observe({entryTypes: ['longtask']}); }""")
        seconds = page.evaluate("""html => new Promise(done => {
            const t0 = performance.now();
            document.getElementById('box').innerHTML = html;
            requestAnimationFrame(() => setTimeout(() => done((performance.now() - t0) / 1000)));
        })""", html)
        page.wait_for_timeout(200)
        longest = page.evaluate("window.__long") / 1000
        chromium.close()
    return seconds, max(longest, 0.0)


def bench_table(server: Server, address: str, repeat: int) -> None:
    from ecfnb._map import table

    query = table.TableQuery(sort="since", descending=True)
    server.sync()
    cold = statistics.median(cold_sync(address) for _ in range(repeat))
    first, page = timed(lambda: table.table_page(server, "/", query), repeat)
    ratio = first / cold
    print(f"table sorted by state-change time over {page.total:,} nodes: first page "
          f"{first:.3f} s; one cold sync {cold:.3f} s; ratio {ratio:.2f} (target <= 1)")


def bench_search(server: Server, repeat: int) -> None:
    from ecfnb._server.walks import SearchQuery

    server.sync()

    def plain() -> int:
        with server._defs() as defs:  # the baseline: the names, and a glob on each
            return sum(fnmatch.fnmatch(node.name(), "t00*") for node in defs.get_all_nodes())

    walk, count = timed(plain, repeat)
    ours, (paths, total) = timed(lambda: server.search(SearchQuery(name="t00*"), 500), repeat)
    assert total == count, (total, count)
    print(f"search by glob 't00*': {total:,} matches in {ours:.3f} s; plain Python walk of "
          f"the names with fnmatch {walk:.3f} s; ratio {ours / walk:.2f} (target <= 2)")


def write_log(path: Path, megabytes: float) -> int:
    """A server log of about ``megabytes`` MB in ecFlow's format (5.9 stamps)."""
    block = []
    for second in range(600):
        stamp = f"{second // 3600 + 10:02d}:{second // 60 % 60:02d}:{second % 60:02d} 5.3.2027"
        block += [f"MSG:[{stamp}] --news=0 1822 5 :ops@host [server(1822,5) : NO_NEWS]",
                  f"LOG:[{stamp}]  submitted: /gen00/f001/g03/t{second % 20:03d} job_size:1200",
                  f"MSG:[{stamp}] chd:meter progress 40 /gen00/f001/g03/t{second % 20:03d}"]
    data = ("\n".join(block) + "\n").encode()
    with open(path, "wb") as out:
        written = 0
        while written < megabytes * 1e6:
            out.write(data)
            written += len(data)
    return written


def measure_log(path: str) -> dict[str, float]:
    """In a child process: the first page's time and the RSS it added."""
    from ecfnb._map import logs

    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    before = rss()
    start = time.perf_counter()
    page = logs.read_backwards(path, 200)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mb": (rss() - before) / 1024, "lines": len(page.lines),
            "scanned": page.scanned}


def bench_log(megabytes: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ecfnb-bench-log-") as tmp:
        path = Path(tmp) / "big.ecf.log"
        size = write_log(path, megabytes)
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--measure-log",
                                           str(path)], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        tails = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(["tail", "-n", "200", str(path)], capture_output=True, check=True)
            tails.append(time.perf_counter() - start)
        print(f"log view of a {size / 1e6:,.0f} MB server log: first page ({best['lines']} "
              f"lines, {best['scanned'] / 1e3:.0f} kB read) {best['seconds']:.4f} s, RSS "
              f"+{best['rss_mb']:.1f} MB (targets <= 0.3 s, <= 50 MB); tail -n 200 "
              f"{min(tails):.4f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--dependants", type=int, default=1000)
    parser.add_argument("--log-mb", type=float, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--measure-log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_log:
        print(json.dumps(measure_log(args.measure_log)))
        return
    with DemoServer(tasks=args.tasks) as demo:
        add_hub(demo, args.dependants)
        server = Server(demo.address)
        print(f"server: {args.tasks:,} generated tasks + {args.dependants} waiting on "
              f"{CENTRE}")
        bench_triggers(server, args.repeat, browser=not args.no_browser and
                       os.path.exists("/usr/bin/chromium"))
        bench_table(server, demo.address, args.repeat)
        bench_search(server, args.repeat)
    bench_log(args.log_mb, args.repeat)


if __name__ == "__main__":
    main()
