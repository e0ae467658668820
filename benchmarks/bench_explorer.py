"""Explorer benchmark on a generated server: first display, opening a 1000-child family,
kernel memory, idle refresh and a refresh with 100 changed nodes (kernel side), then the
same explorer in JupyterLab in chromium (display, open, next page, live update and the
longest main-thread freeze), against one cold ``sync_local`` and one ``news_local``
measured in the same run.

The kernel side runs in a fresh child process (as a kernel would, so its memory is its
own; its widgets have no frontend, so their messages go nowhere); the browser side runs
a notebook with ``ecfnb.explore(...)`` in JupyterLab driven by playwright in Debian's
chromium (``/usr/bin/chromium``, never ``playwright install``), and times clicks and
the longest main-thread freeze (longtask observer and requestAnimationFrame gaps).

Run: ``.venv/bin/python benchmarks/bench_explorer.py --tasks 100000``
(``--no-browser`` for the kernel side only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ecfnb import DemoServer  # noqa: E402

WIDE, MANY = "/wide", "/wide/many"
WIDE_TASKS = 1000
CHANGED = [f"{MANY}/t{i:04d}" for i in range(100)]  # all in the first page of /wide/many
START_KERNEL = {"@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True}}


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def private_mb(pid: int | str = "self") -> float:
    """What a process holds alone (RSS counts pages shared with another too: a poller
    forked from the kernel shares its synced tree)."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024


def pss_mb(pid: int | str = "self") -> float:
    """A process's proportional set size: its private pages plus its share of the pages
    it shares (RSS counts a page shared by the kernel and a forked poller twice, PSS
    once between them), so the PSS of kernel + poller is what the two really cost."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def add_wide_family(demo: DemoServer) -> None:
    """One suite with one family of 1000 tasks (the generated suite has 20 a family)."""
    lines = ["suite wide", "  family many"]
    lines += [f"    task t{i:04d}" for i in range(WIDE_TASKS)]
    lines += ["  endfamily", "endsuite", ""]
    definition = demo.home / "wide.def"
    definition.write_text("\n".join(lines))
    demo.client("--load", str(definition), timeout=120)
    demo.client("--begin", "wide")  # the server is halted: nothing is submitted


# -- baseline ---------------------------------------------------------------------------
def baseline(address: str, repeat: int) -> dict[str, float]:
    """Medians over ``repeat`` interleaved rounds (the machine is noisy: each round
    measures everything once) of: a cold sync (a fresh Client's first ``sync_local``, a
    full transfer; also ``get_server_defs``, which ecfnb's full sync uses), a fresh
    process's first ``sync_local`` and ``explore()`` in a fresh process; then the median
    of idle ``news_local`` calls on a synced client."""
    import ecflow

    host, port = address.rsplit(":", 1)

    def cold(call: str) -> float:
        client = ecflow.Client(host, port)
        start = time.perf_counter()
        getattr(client, call)()
        elapsed = time.perf_counter() - start
        del client
        return elapsed

    rounds: dict[str, list[float]] = {}
    for _ in range(repeat):
        measured = {"sync_local": cold("sync_local"),
                    "get_server_defs": cold("get_server_defs"),
                    **child_json("--fresh-sync", address),
                    **child_json("--explore-once", address)}
        for name, value in measured.items():
            rounds.setdefault(name, []).append(value)
    result = {name: statistics.median(values) for name, values in rounds.items()}
    client = ecflow.Client(host, port)
    client.sync_local()
    news = []
    for _ in range(max(20, repeat)):
        start = time.perf_counter()
        client.news_local()
        news.append(time.perf_counter() - start)
    result["news_local"] = statistics.median(news)
    return result


def fresh_sync(address: str) -> dict[str, float]:
    """A fresh process's first ``sync_local`` (as a new kernel's): its time, slower than
    the median of repeated ones, and the RSS the synced copy takes (what a Server holds)."""
    import ecflow

    host, port = address.rsplit(":", 1)
    before = rss_mb()
    client = ecflow.Client(host, port)
    start = time.perf_counter()
    client.sync_local()
    return {"first_sync": time.perf_counter() - start, "server_copy_mb": rss_mb() - before}


def explore_once(address: str) -> dict[str, float]:
    """``explore()`` in a fresh process, as in a new kernel: to the tree with its suites."""
    from ecfnb import explore

    start = time.perf_counter()
    explorer = explore(address, interval=3600)
    elapsed = time.perf_counter() - start
    explorer.close()
    return {"explore": elapsed}


# -- kernel side (run in a child process: python bench_explorer.py --kernel ADDRESS) ---
def kernel_side(address: str, repeat: int) -> dict[str, Any]:
    from ecfnb import Server, explore
    from ecfnb.widgets.poller import TreeFollower
    from ecfnb.widgets.poller_messages import Command

    out: dict[str, Any] = {}
    base = rss_mb()
    start = time.perf_counter()
    explorer = explore(address, interval=3600)  # no timed poll: every refresh is ours
    out["explore"] = time.perf_counter() - start
    tree = explorer.tree
    view = tree.views[0]
    if view.status != "connected":
        raise RuntimeError(f"explorer not connected: {view.status} {view.message}")
    out["rss_explore_mb"] = rss_mb() - base
    out["suites_shown"] = len(view.widget.nodes)
    messages: list[dict] = []
    reader = view.follower.on_message
    view.follower.on_message = lambda m: (messages.append(m), reader(m))
    try:
        start = time.perf_counter()
        if not tree.refresh(wait=True, timeout=600):  # the poller's first (full) sync
            raise RuntimeError("the tree poller did not answer")
        out["live_after"] = time.perf_counter() - start
        out["poller_rss_mb"] = rss_mb(view.follower.pid)
        out["poller_own_mb"] = private_mb(view.follower.pid)

        tree.expand(WIDE)
        created, live = tree.created, tree.live_widgets
        start = time.perf_counter()
        many = tree.expand(MANY)
        out["open"] = time.perf_counter() - start
        out["open_children"] = len(many.nodes)
        out["open_created"] = tree.created - created
        out["open_live_added"] = tree.live_widgets - live
        more = many.nodes[-1]
        tree.refresh(wait=True)  # the poller's answer to the open arrives meanwhile
        out["more_replaced"] = many.nodes[-1] is not more
        more = many.nodes[-1]
        out["more_label"] = more.name
        start = time.perf_counter()
        more.selected = True
        out["more"] = time.perf_counter() - start
        out["more_children"] = len(many.nodes)
        out["live_widgets"] = tree.live_widgets
        out["rss_open_mb"] = rss_mb() - base

        tree.refresh(wait=True)  # the poller has taken in what the pages above showed
        idle, requests, sent = [], [], []
        for _ in range(repeat):
            first = len(messages)
            start = time.perf_counter()
            tree.refresh(wait=True)
            idle.append(time.perf_counter() - start)
            new = messages[first:]
            requests.append(sum(m.get("requests", 0) for m in new if m.get("type") == "status"))
            sent.append(sum(m.get("type") not in ("status", "done") for m in new))
        out["idle_refresh"] = statistics.median(idle)
        out["idle_requests"] = max(requests)
        out["idle_messages"] = max(sent)

        # The same poll in this process, without the pipe: what the poller itself costs.
        follower = TreeFollower(Server(address, timeout=60))
        follower.command(Command(shown=tuple(sorted(view.nodes)), opened=dict(view.pages)))
        follower.poll()
        polls, poll_requests = [], []
        for _ in range(repeat):
            before = follower.server.requests
            start = time.perf_counter()
            follower.poll()
            polls.append(time.perf_counter() - start)
            poll_requests.append(follower.server.requests - before)
        out["idle_poll"] = statistics.median(polls)
        out["idle_poll_requests"] = max(poll_requests)
        out["shown"] = len(view.nodes)

        host, port = address.rsplit(":", 1)
        subprocess.run(["ecflow_client", "--host", host, "--port", port, "--force=complete",
                        *CHANGED], check=True, capture_output=True, timeout=60)
        relabels, created, first = tree.relabels, tree.created, len(messages)
        start = time.perf_counter()
        tree.refresh(wait=True)
        out["change_refresh"] = time.perf_counter() - start
        out["change_relabels"] = tree.relabels - relabels
        out["change_created"] = tree.created - created
        new = messages[first:]
        out["change_requests"] = sum(m.get("requests", 0) for m in new
                                     if m.get("type") == "status")
        out["change_messages"] = sum(m.get("type") not in ("status", "done") for m in new)
        out["change_complete"] = sum("ecfnb-state-complete" in view.nodes[p].name
                                     for p in CHANGED)
        before = follower.server.requests
        start = time.perf_counter()
        answer = follower.poll()
        out["change_poll"] = time.perf_counter() - start
        out["change_poll_requests"] = follower.server.requests - before
        out["change_poll_messages"] = len(answer)
    finally:
        explorer.close()
    return out


# -- memory (run in a child process: python bench_explorer.py --memory ADDRESS) ---------
def memory_side(address: str, rounds: int) -> dict[str, Any]:
    """PSS and RSS of the kernel and its poller (forked or not: ``ECFNB_POLLER_FORK``)
    after the poller's first poll, after ``rounds`` polls that each bring
    ``len(CHANGED)`` changes, after the kernel caught up with them too (as a click
    does), after a state filter (evaluated by the poller) and after a structural change
    (a suite added: a full sync in the poller, then in the kernel)."""
    from ecfnb import explore

    host, port = address.rsplit(":", 1)

    def change(*args: str) -> None:
        proc = subprocess.run(["ecflow_client", "--host", host, "--port", port, *args],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ecflow_client {' '.join(args)[:100]}: {proc.stderr[-500:]}")

    def measure(name: str) -> None:
        pid = view.follower.pid
        out[name] = {"kernel_pss": pss_mb(), "poller_pss": pss_mb(pid),
                     "kernel_rss": rss_mb(), "poller_rss": rss_mb(pid)}

    def settled() -> None:
        """Wait until a re-fork the catch-up started (``refork_if_unshared``, in a
        thread) has happened or has been decided against, then for the new poller."""
        before = view.reforks
        deadline = time.monotonic() + 5
        while view.reforks == before and time.monotonic() < deadline:
            time.sleep(0.05)
        if not tree.refresh(wait=True, timeout=600):
            raise RuntimeError("the tree poller did not answer")

    out: dict[str, Any] = {}
    explorer = explore(address, interval=3600)  # no timed poll: every refresh is ours
    try:
        tree, view = explorer.tree, explorer.tree.views[0]
        if not tree.refresh(wait=True, timeout=600):
            raise RuntimeError("the tree poller did not answer")
        with open(f"/proc/{view.follower.pid}/cmdline", "rb") as poller, \
                open("/proc/self/cmdline", "rb") as kernel:
            out["forked"] = poller.read() == kernel.read()
        measure("first")
        for number in range(rounds):
            change(f"--force={'complete' if number % 2 == 0 else 'queued'}", *CHANGED)
            if not tree.refresh(wait=True, timeout=600):
                raise RuntimeError("the tree poller did not answer")
        measure("changed")
        tree.catch_up(view)  # the kernel's copy takes the same changes in
        measure("caught_up")
        # A filter is evaluated by the poller over the whole tree: each node the binding
        # hands out has its reference count written, so its page is copied.
        if not tree.set_filter(("aborted",), wait=True, timeout=600):
            raise RuntimeError("the tree poller did not answer the filter")
        measure("filtered")
        tree.set_filter(wait=True, timeout=600)  # cleared: a catch-up, and a re-fork
        settled()
        measure("unfiltered")
        suite = f"memory_{os.getpid()}"
        with tempfile.NamedTemporaryFile("w", suffix=".def", delete=False) as extra:
            extra.write(f"suite {suite}\n  task t\nendsuite\n")
        try:
            change("--load", extra.name)
        finally:
            os.unlink(extra.name)
        try:
            if not tree.refresh(wait=True, timeout=600):
                raise RuntimeError("the tree poller did not answer")
            measure("structural")  # the poller's full sync only
            tree.catch_up(view)
            settled()
            measure("structural_caught_up")
            out["reforks"] = view.reforks
        finally:
            change("--delete=force", "yes", f"/{suite}")
    finally:
        explorer.close()
    return out


# -- browser side ---------------------------------------------------------------------------
INIT_JS = """
window.__longtasks = []; window.__gaps = []; window.__seen = {}; window.__clicks = [];
try {
  new PerformanceObserver(list => { for (const e of list.getEntries())
    window.__longtasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
} catch (e) { window.__longtaskError = String(e); }
(() => { let last = performance.now();
  const frame = t => { if (t - last > 100) window.__gaps.push([last, t - last]); last = t;
                       requestAnimationFrame(frame); };
  requestAnimationFrame(frame); })();
document.addEventListener('mousedown', () => window.__clicks.push(performance.now()), true);
// __watch(name, selector, count): the frame time when count elements match (DOM, then painted)
window.__watch = (name, selector, count) => {
  delete window.__seen[name];
  const check = () => document.querySelectorAll(selector).length >= count;
  const done = () => requestAnimationFrame(() => { window.__seen[name] = performance.now(); });
  if (check()) { done(); return; }
  const observer = new MutationObserver(() => { if (check()) { observer.disconnect(); done(); } });
  observer.observe(document.body, {childList: true, subtree: true, characterData: true,
                                   attributes: true});
};
"""


def notebook(address: str, interval: float, marks: Path) -> dict:
    head = (f"import json, time\nMARKS = {str(marks)!r}\n"
            "def mark(name):\n"
            "    with open(MARKS, 'a') as fh:\n"
            "        fh.write(json.dumps({'name': name, 't': time.time()}) + '\\n')\n"
            "mark('kernel')\nimport ecfnb, ecfnb.widgets.explorer\nmark('imported')")
    body = (f"mark('explore')\nex = ecfnb.explore({address!r}, interval={interval})\n"
            "mark('explored')\nex")
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
              "outputs": [], "source": source} for i, source in enumerate((head, body))]
    return {"cells": cells, "metadata": {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}


def run_all(page: Any, timeout: float = 90) -> float:
    """Run > Run All (again until the first cell started: one in the moment the kernel's
    websocket opens is dropped); the epoch time of the click that worked."""
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        clicked = time.time()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        started = time.monotonic() + 3
        while time.monotonic() < started:
            if "[ ]" not in prompt.inner_text():
                return clicked
            time.sleep(0.1)
    raise RuntimeError(f"Run All did not start the notebook within {timeout} s")


def expander(path: str) -> str:
    return (f'li.ecfnb-tree-node:has(> span.ecfnb-tree-anchor [data-ecf-path="{path}"]) '
            '> span.ecfnb-tree-toggle')


def children_selector(path: str) -> str:
    return f'.ecfnb-tree .ecfnb-tree-anchor [data-ecf-path^="{path}/"]'


def browser_side(demo: DemoServer, interval: float, timeout: float) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from browser import CHROMIUM, chromium_page, running_lab

    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium or --no-browser")
    out: dict[str, Any] = {"interval": interval}
    phases: list[tuple[str, float]] = []  # (name, page time at its start)
    with tempfile.TemporaryDirectory(prefix="ecfnb-bench-explorer-") as tmp:
        marks = Path(tmp) / "marks.jsonl"
        (Path(tmp) / "explore.ipynb").write_text(
            json.dumps(notebook(demo.address, interval, marks)))
        with running_lab(tmp, user_settings=START_KERNEL) as lab:
            try:
                with chromium_page() as page:
                    try:
                        _drive(page, lab, demo, interval, timeout, marks, out, phases)
                    except BaseException:
                        shot = Path(tempfile.gettempdir()) / "bench_explorer-failed.png"
                        with contextlib.suppress(Exception):
                            page.screenshot(path=str(shot))
                            print(f"  (screenshot of the failure: {shot})")
                        raise
            finally:
                for kernel in lab.get_json("/api/kernels"):  # ends the kernel's poller too
                    lab.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
    return out


def _drive(page: Any, lab: Any, demo: DemoServer, interval: float, timeout: float,
           marks: Path, out: dict[str, Any], phases: list[tuple[str, float]]) -> None:
    ms = int(timeout * 1000)

    def now() -> float:
        return page.evaluate("performance.now()")

    def wait_seen(name: str) -> float:
        page.wait_for_function(f"window.__seen[{name!r}] !== undefined", timeout=ms,
                               polling=50)
        return page.evaluate(f"window.__seen[{name!r}]")

    def click_and_wait(name: str, locator: Any, selector: str, count: int) -> float:
        """Page ms from the mousedown on ``locator`` to ``count`` matches painted."""
        page.evaluate("([n, s, c]) => window.__watch(n, s, c)", [name, selector, count])
        clicks = page.evaluate("window.__clicks.length")
        phases.append((name, now()))
        locator.click()
        seen = wait_seen(name)
        return seen - page.evaluate(f"window.__clicks[{clicks}]")

    page.add_init_script(INIT_JS)
    page.goto(f"{lab.url}/lab/tree/explore.ipynb?reset")
    page.locator(".jp-Notebook .jp-Cell >> visible=true").first.wait_for(timeout=120_000)
    page.wait_for_timeout(2000)  # let JupyterLab finish its own start
    origin = page.evaluate("performance.timeOrigin") / 1000  # epoch s of page time 0
    out["longtask_supported"] = page.evaluate("window.__longtaskError === undefined")
    page.evaluate("([n, s, c]) => window.__watch(n, s, c)",
                  ["suites", f'.ecfnb-tree .ecfnb-tree-anchor [data-ecf-path="{WIDE}"]', 1])
    phases.append(("run all -> suites shown", now()))
    clicked = run_all(page)
    shown = origin + wait_seen("suites") / 1000
    times = {}
    for line in marks.read_text().splitlines():
        item = json.loads(line)
        times[item["name"]] = item["t"]
    out["runall_to_suites"] = shown - clicked
    out["kernel_explore"] = times["explored"] - times["explore"]
    out["explore_to_suites"] = shown - times["explore"]
    out["explored_to_suites"] = shown - times["explored"]

    out["open_wide"] = click_and_wait("open /wide", page.locator(expander(WIDE)),
                                      f'.ecfnb-tree .ecfnb-tree-anchor [data-ecf-path="{MANY}"]',
                                      1) / 1000
    out["open_many"] = click_and_wait("open /wide/many (1000 children)",
                                      page.locator(expander(MANY)), children_selector(MANY),
                                      100) / 1000
    out["open_many_anchors"] = page.locator(children_selector(MANY)).count()
    more = page.locator('li.ecfnb-tree-node:has(> span.ecfnb-tree-anchor '
                        f'[data-ecf-path="{MANY}"]) .ecfnb-more')
    out["more_label"] = more.inner_text()
    out["more"] = click_and_wait("next page (… more)", more, children_selector(MANY),
                                 200) / 1000

    # What a user does next: collapse it, select it (the panel shows it), open it again:
    # the family's anchor now has the focus, which jsTree restores at every redraw.
    phases.append((f"collapse {MANY} (200 children)", now()))
    page.locator(expander(MANY)).click()
    page.wait_for_timeout(2000)
    phases.append((f"select {MANY} (panel)", now()))
    page.locator(f'.ecfnb-tree span.ecfnb-tree-anchor:has([data-ecf-path="{MANY}"])').click()
    with contextlib.suppress(Exception):
        page.locator(".ecfnb-panel-header", has_text="many").wait_for(timeout=10_000)
    page.wait_for_timeout(1000)
    out["open_selected"] = click_and_wait(f"open the selected {MANY}",
                                          page.locator(expander(MANY)),
                                          children_selector(MANY), 100) / 1000

    selector = f'.ecfnb-tree .ecfnb-state-aborted[data-ecf-path^="{MANY}/t00"]'  # = CHANGED
    page.evaluate("([n, s, c]) => window.__watch(n, s, c)", ["live", selector, len(CHANGED)])
    phases.append(("100 changes shown live", now()))
    forced = time.time()
    demo.client("--force=aborted", *CHANGED)
    out["live_update"] = origin + wait_seen("live") / 1000 - forced
    phases.append((f"idle, {3 * interval:.0f} s of refreshes", now()))
    page.wait_for_timeout(int(3 * interval * 1000))
    phases.append(("end", now()))

    longtasks = page.evaluate("window.__longtasks")
    gaps = page.evaluate("window.__gaps")
    out["phases"] = []
    for (name, begin), (_next, end) in zip(phases, phases[1:], strict=False):
        tasks = [d for s, d in longtasks if begin <= s < end]
        frame_gaps = [g for s, g in gaps if begin <= s < end]
        out["phases"].append((name, max(tasks, default=0) / 1000,
                              max(frame_gaps, default=0) / 1000, len(tasks)))
    first = phases[0][1]
    out["lab_longtask"] = max((d for s, d in longtasks if s < first), default=0) / 1000
    out["max_longtask"] = max((p[1] for p in out["phases"]), default=0)
    out["max_gap"] = max((p[2] for p in out["phases"]), default=0)


# -- report -------------------------------------------------------------------------------
def memory_report(memory: dict[str, dict], rounds: int) -> None:
    """Kernel + poller PSS, forked against a poller that syncs for itself."""
    fork, own = memory["1"], memory["0"]
    print("  memory: kernel + poller PSS (RSS counts the shared tree twice)")
    if not fork["forked"] or own["forked"]:
        print(f"    (the poller was not started as asked: forked {fork['forked']}, "
              f"subprocess forked {own['forked']})")
    steps = (("first", "after the poller's first poll"),
             ("changed", f"after {rounds} polls of {len(CHANGED)} changes"),
             ("caught_up", "  and the kernel synced them too"),
             ("filtered", "after a state filter (the poller walks all)"),
             ("unfiltered", "  the filter cleared (forked again)"),
             ("structural", "after a suite was loaded (poller's full sync)"),
             ("structural_caught_up", "  and the kernel's full sync (forked again)"))
    for key, name in steps:
        f, o = fork[key], own[key]
        f_sum, o_sum = f["kernel_pss"] + f["poller_pss"], o["kernel_pss"] + o["poller_pss"]
        row(name, f"{f_sum:.0f} MB",
            f"forked (kernel {f['kernel_pss']:.0f} + poller {f['poller_pss']:.0f}) vs "
            f"{o_sum:.0f} MB subprocess ({o['kernel_pss']:.0f} + {o['poller_pss']:.0f}; "
            f"RSS sum {o['kernel_rss'] + o['poller_rss']:.0f}): {f_sum / o_sum:.2f}x")
    print(f"    pollers forked again from the caught-up kernel: {fork.get('reforks', 0)}")


def row(name: str, value: str, note: str = "", verdict: bool | None = None) -> None:
    mark = "" if verdict is None else ("PASS" if verdict else "FAIL")
    print(f"  {name:<46} {value:>12}  {note:<40} {mark}")


def report(n: int, base: dict, kern: dict, web: dict | None, memory: dict,
           rounds: int) -> None:
    cold, news = base["sync_local"], base["news_local"]
    print(f"\n== explorer on a generated server: {n} tasks + {MANY} ({WIDE_TASKS} tasks)")
    print("  baseline and first display (medians of interleaved rounds)")
    row("cold sync_local (fresh Client)", f"{cold:.3f} s")
    row("cold get_server_defs (fresh Client)", f"{base['get_server_defs']:.3f} s")
    row("first sync_local of a fresh process", f"{base['first_sync']:.3f} s",
        "(as a new kernel's)")
    row("news_local (synced, idle)", f"{news * 1000:.2f} ms")
    ratio = base["explore"] / cold
    row("explore() in a fresh process: suites built", f"{base['explore']:.3f} s",
        f"{ratio:.2f}x cold sync (target <= 1.5x)", ratio <= 1.5)
    row("", "", f"{base['explore'] / base['first_sync']:.2f}x a fresh process's first sync")
    print("  kernel side (one fresh process)")
    row("explore()", f"{kern['explore']:.3f} s")
    row("  poller's first sync done after", f"{kern['live_after']:.3f} s", "(in its process)")
    row(f"open {MANY}: first page", f"{kern['open']:.3f} s",
        f"{kern['open_created']} created, {kern['open_children']} shown (<= 0.3 s)",
        kern["open"] <= 0.3)
    row("  next page ('more' selected)", f"{kern['more']:.3f} s",
        f"{kern['more_children']} shown; {kern['live_widgets']} live widgets")
    if kern["more_replaced"]:
        print("    (the poller's first answer after the open replaced the '… more' node by a "
              "new widget: a click on the old one is lost)")
    row("kernel RSS after explore()", f"{kern['rss_explore_mb']:.0f} MB",
        f"of which a synced Server ~{base['server_copy_mb']:.0f} MB")
    row("kernel RSS after opening pages", f"{kern['rss_open_mb']:.0f} MB")
    row("poller process RSS", f"{kern['poller_rss_mb']:.0f} MB",
        f"of which its own {kern['poller_own_mb']:.0f} MB (forked: the kernel's tree shared)")
    memory_report(memory, rounds)
    idle_ratio = kern["idle_refresh"] / news
    row("idle refresh(wait=True)", f"{kern['idle_refresh'] * 1000:.1f} ms",
        f"{idle_ratio:.1f}x news_local; {kern['idle_requests']} request(s), "
        f"{kern['idle_messages']} msg", kern["idle_requests"] == 1)
    row("  idle TreeFollower.poll() in-process", f"{kern['idle_poll'] * 1000:.2f} ms",
        f"{kern['idle_poll'] / news:.1f}x news_local; {kern['idle_poll_requests']} request(s)")
    row(f"refresh, {len(CHANGED)} shown nodes changed", f"{kern['change_refresh'] * 1000:.1f} ms",
        f"{kern['change_relabels']} relabels, {kern['change_created']} created, "
        f"{kern['change_requests']} req", kern["change_created"] == 0
        and kern["change_relabels"] >= len(CHANGED) and kern["change_complete"] == len(CHANGED))
    row("  same poll in-process", f"{kern['change_poll'] * 1000:.1f} ms",
        f"{kern['change_poll_messages']} messages for {kern['shown']} shown, "
        f"{kern['change_poll_requests']} req")
    if web is None:
        return
    print("  browser (JupyterLab + chromium)")
    row("Run All -> suites visible", f"{web['runall_to_suites']:.2f} s",
        "(kernel start + imports + explore)")
    row("explore cell -> suites visible", f"{web['explore_to_suites']:.2f} s",
        f"explore() {web['kernel_explore']:.2f} s, then {web['explored_to_suites']:.2f} s")
    row("  explore() in the lab's kernel", f"{web['kernel_explore']:.2f} s",
        f"{web['kernel_explore'] / cold:.2f}x cold sync (lab + chromium share the CPU)")
    row(f"click {WIDE} -> its child visible", f"{web['open_wide']:.2f} s")
    row(f"click {MANY} -> 100 children visible", f"{web['open_many']:.2f} s",
        f"{web['open_many_anchors']} anchors (target <= 1 s)", web["open_many"] <= 1.0)
    row("click '… more' -> 200 children visible", f"{web['more']:.2f} s")
    row(f"select {MANY}, then open it -> 100 visible", f"{web['open_selected']:.2f} s",
        "(its anchor has the focus; target <= 1 s)", web["open_selected"] <= 1.0)
    row(f"{len(CHANGED)} changes -> shown in browser", f"{web['live_update']:.2f} s",
        f"(poll interval {web['interval']:.0f} s)")
    if not web["longtask_supported"]:
        print("  (longtask observer unsupported: freezes from requestAnimationFrame gaps only)")
    row("JupyterLab's own start: longest task", f"{web['lab_longtask']:.2f} s",
        "(before Run All: not ecfnb)")
    for name, longest, gap, count in web["phases"]:
        row(f"  {name}", f"{longest:.2f} s", f"longest task ({count} > 50 ms); "
            f"frame gap {gap:.2f} s")
    worst = max(web["max_longtask"], web["max_gap"])
    row("longest freeze after Run All", f"{worst:.2f} s",
        f"task {web['max_longtask']:.2f} s, frame gap {web['max_gap']:.2f} s (<= 0.5 s)",
        worst <= 0.5)


def child_json(*args: str, timeout: float = 1800, env: dict[str, str] | None = None) -> dict:
    """Run this file in a fresh process with ``args``; its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed step")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="the browser explorer's refresh period")
    parser.add_argument("--browser-timeout", type=float, default=120)
    parser.add_argument("--kernel", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--fresh-sync", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--explore-once", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--memory", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3,
                        help="polls with changes before memory is measured again")
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory_side(args.memory, args.rounds)))
        return
    if args.kernel:
        print(json.dumps(kernel_side(args.kernel, args.repeat)))
        return
    if args.fresh_sync:
        print(json.dumps(fresh_sync(args.fresh_sync)))
        return
    if args.explore_once:
        print(json.dumps(explore_once(args.explore_once)))
        return
    started = time.monotonic()
    with DemoServer(tasks=args.tasks) as demo:
        add_wide_family(demo)
        print(f"generated server: {args.tasks} tasks + {MANY} on {demo.address} "
              f"(ready in {time.monotonic() - started:.0f} s)", flush=True)
        base = baseline(demo.address, args.repeat)
        print(f"baseline: cold sync_local {base['sync_local']:.3f} s, explore() "
              f"{base['explore']:.3f} s (medians of {args.repeat})", flush=True)
        kern = child_json("--kernel", demo.address, "--repeat", str(args.repeat))
        print(f"kernel side: explore() {kern['explore']:.3f} s", flush=True)
        memory = {fork: child_json("--memory", demo.address, "--rounds", str(args.rounds),
                                   env={**os.environ, "ECFNB_POLLER_FORK": fork})
                  for fork in ("1", "0")}
        web = None
        if not args.no_browser:
            web = browser_side(demo, args.interval, args.browser_timeout)
        report(args.tasks, base, kern, web, memory, args.rounds)


if __name__ == "__main__":
    main()
