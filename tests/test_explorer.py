"""The explorer (NodeTree, NodePanel, Explorer) against real ecflow_server processes,
without a browser: what each widget holds is checked against an independent
``ecflow_client --get_state`` parse and the job files on disk."""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ecfnb import STATE_COLOURS, Explorer, NodeTree, Server, explore, free_port
from ecfnb.widgets.server_view import ServerView

from conftest import (
    error_without_ipywidgets,
    get_state,
    make_read_only,
    wait_for,
    worst_foreground_delay,
)
from helpers import client


def get_state_text(port: int, path: str) -> str:
    return client(port, "--get_state", path).stdout.decode(errors="replace")

POST = "/demo/forecast/post"


@pytest.fixture
def tree(demo):
    tree = NodeTree([Server(demo.host, demo.port)], interval=1)
    yield tree
    tree.close()


def label_state(label: str) -> str:
    found = re.search(r'class="ecfnb-node ecfnb-state-(\w+)"', label)
    assert found, label
    return found.group(1)


def open_everything(tree: NodeTree) -> None:
    view = tree.views[0]
    pending = ["/"]
    while pending:
        path = pending.pop()
        if path != "/":
            tree.expand(path)
        pending += [p for p, info in view.infos.items()
                    if info.has_children and p not in view.pages and p.startswith(path)]


def test_labels_and_colours_match_the_server(demo, tree):
    open_everything(tree)
    view = tree.views[0]
    expected = get_state(demo.port)
    assert set(view.nodes) == set(expected)
    for path, (_kind, state) in expected.items():
        label = view.nodes[path].name
        assert label_state(label) == state, path
        assert STATE_COLOURS[state] in label
        assert f">{html.escape(path.rsplit('/', 1)[1])}</span>" in label
    label = view.nodes["/demo/monitor/progress"].name  # the meter as a bar and its value
    found = re.search(r'data-ecf-mark="meter:progress" data-value="(\d+)".*?width:(\d+)%', label)
    assert found, label
    now = re.search(r"meter progress 0 100 \d+ # (\d+)", get_state_text(demo.port,
                                                                     "/demo/monitor"))
    assert now and int(found.group(1)) <= int(now.group(1))  # the job only moves it on
    assert int(found.group(2)) == int(found.group(1))  # 0..100: the bar's share is the value
    assert view.status == "connected" and "aborted" in view.widget.name  # server state chip


def test_opening_a_family_creates_its_children_and_closing_frees_them(demo, tree):
    view = tree.views[0]
    assert set(view.nodes) == {"/demo"}  # opens with its suites only
    before = tree.live_widgets
    tree.expand("/demo/forecast")
    kids = {"/demo/forecast/model", POST, "/demo/forecast/report"}
    assert kids <= set(view.nodes)
    forecast = view.nodes["/demo/forecast"]
    assert {w.name for w in forecast.nodes} == {view.nodes[p].name for p in kids}
    assert tree.live_widgets > before
    widgets_before = tree.live_widgets
    forecast.opened = False  # what the browser does on collapse
    assert not kids & set(view.nodes)
    assert tree.live_widgets == widgets_before - 3 + 1  # a placeholder replaces the children
    assert len(forecast.nodes) == 1 and "loading" in forecast.nodes[0].name


def test_one_refresh_relabels_only_what_changed(fresh_demo):
    tree = NodeTree([Server(fresh_demo.host, fresh_demo.port)], interval=60)
    try:
        view = tree.views[0]
        tree.expand("/demo/housekeeping")
        tree.expand("/demo/forecast")
        assert tree.refresh(timeout=30)
        widgets = dict(view.nodes)
        labels = {p: w.name for p, w in widgets.items()}
        created, relabels = tree.created, tree.relabels
        fresh_demo.client("--suspend", "/demo/housekeeping/nightly")
        assert tree.refresh(timeout=30)
        assert tree.created == created  # nothing rebuilt
        assert view.nodes == widgets  # the same widget objects
        changed = {p for p, w in widgets.items() if w.name != labels[p]}
        assert "/demo/housekeeping/nightly" in changed
        assert label_state(widgets["/demo/housekeeping/nightly"].name) == "suspended"
        # only the node itself (and ancestors whose state follows it) may change label;
        # the active monitor's meter moves on its own
        assert changed <= {"/demo/housekeeping/nightly", "/demo/housekeeping", "/demo"}, changed
        assert tree.relabels - relabels == len(changed)
    finally:
        tree.close()


def test_filter_shows_exactly_aborted_tasks_and_their_ancestors(demo, tree):
    expected_hits = {p for p, (_k, s) in get_state(demo.port).items() if s == "aborted"}
    expected = set()
    for hit in expected_hits:
        parts = hit.strip("/").split("/")
        expected |= {"/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    assert tree.set_filter(["aborted"], wait=True)
    view = tree.views[0]
    assert set(view.nodes) == expected and POST in expected
    assert all(label_state(view.nodes[p].name) == "aborted" for p in expected_hits)
    assert "filter: showing" in tree.status.value
    assert tree.set_filter(text="post", wait=True)  # search by name: the path to each hit
    assert set(view.nodes) == {"/demo", "/demo/forecast", POST}
    assert tree.set_filter(text="/monitor/", wait=True)  # by path part
    assert "/demo/monitor/progress" in view.nodes and POST not in view.nodes
    tree.set_filter()  # back to the tree, as it was
    assert set(view.nodes) == {"/demo"} | {p for p in view.nodes if p.count("/") == 2}
    with pytest.raises(ValueError, match="unknown state"):
        tree.set_filter(["broken"])


def test_pages_and_widget_bound_on_a_wide_family(fresh_demo):
    definition = fresh_demo.home / "wide.def"
    tasks = "\n".join(f"    task t{i:04d}" for i in range(450))
    definition.write_text(f"suite wide\n  family many\n{tasks}\n  endfamily\n"
                          "  family other\n    family inner\n      task x\n    endfamily\n"
                          "  endfamily\nendsuite\n")
    fresh_demo.client("--load", str(definition))
    tree = NodeTree([Server(fresh_demo.host, fresh_demo.port)], interval=60, page=100,
                    max_widgets=260)
    try:
        view = tree.views[0]
        tree.expand("/wide/many")
        many = view.nodes["/wide/many"]
        assert len(many.nodes) == 101 and "350 more" in many.nodes[-1].name
        many.nodes[-1].selected = True  # the "more" node, clicked
        assert len(many.nodes) == 201 and "250 more" in many.nodes[-1].name
        assert tree.live_widgets <= 260
        tree.expand("/wide/other/inner")  # no room: the least recently opened is collapsed
        assert "/wide/other/inner/x" in view.nodes
        assert "/wide/many" not in view.pages and "/wide/many/t0000" not in view.nodes
        assert tree.live_widgets <= 260
        widget = tree.select("/wide/many/t0420")  # beyond the first page: paged in
        assert widget.selected and "/wide/many/t0420" in view.nodes
    finally:
        tree.close()


def test_a_level_that_was_empty_shows_what_comes_back(fresh_demo):
    """A server replaced on its port is seen with no suite for a moment (measured on
    5.13: a full sync before the new server had loaded its definition), then with its
    suite. The tree showed "1 more" in place of that suite for good: the page of a level
    shrank to the rows it showed, none. A family emptied and refilled is the same."""
    definition = fresh_demo.home / "back.def"
    definition.write_text("suite back\n  family f\n    task a\n    task b\n  endfamily\n"
                          "endsuite\n")
    tree = NodeTree([Server(fresh_demo.host, fresh_demo.port)], interval=60)
    try:
        view = tree.views[0]
        fresh_demo.client("--load", str(definition))
        assert tree.refresh(timeout=30) and "/back" in view.nodes
        tree.expand("/back/f")
        assert {"/back/f/a", "/back/f/b"} <= set(view.nodes)
        fresh_demo.client("--delete=force", "yes", "/back/f/a", "/back/f/b")
        assert tree.refresh(timeout=30)
        assert not {"/back/f/a", "/back/f/b"} & set(view.nodes)
        fresh_demo.client("--replace=/back", str(definition))
        assert tree.refresh(timeout=30)
        assert {"/back/f/a", "/back/f/b"} <= set(view.nodes), sorted(view.nodes)
        fresh_demo.client("--delete=force", "yes", "_all_")
        assert tree.refresh(timeout=30)
        assert not view.nodes and view.widget.nodes == ()
        fresh_demo.client("--load", str(definition))
        assert tree.refresh(timeout=30)
        suites = re.findall(r"^suite (\S+)", client(fresh_demo.port, "--get_state").stdout.decode(),
                            re.M)
        assert suites == ["back"]
        assert [n for n in view.nodes if n.count("/") == 1] == ["/back"]
        assert not any("more" in w.name for w in view.widget.nodes)
    finally:
        tree.close()


def test_untrusted_label_and_output_are_escaped(fresh_demo):
    evil = '<img src=x onerror="window.__xss=1">'
    fresh_demo.client("--alter", "change", "label", "info", evil, "/demo/prepare/fetch_obs")
    explorer = explore(fresh_demo.address, path="/demo/prepare/fetch_obs", interval=60)
    try:
        view = explorer.tree.views[0]
        label = view.nodes["/demo/prepare/fetch_obs"].name
        assert "<img" not in label and html.escape(evil) in label
        out = view.fsmap.local_path(view.fsmap.path_of("/demo/prepare/fetch_obs", "jobout"))
        with open(out, "a") as job_output:  # as if the job had printed it
            job_output.write(f"line one\n{evil}\nERROR: {evil}\n")
        explorer.panel.show(view.server, view.fsmap, "/demo/prepare/fetch_obs", tab="Output")
        page = explorer.panel.pages["Output"].value
        assert "<img" not in page and "&lt;img src=x" in page
        assert re.search(r'<span class="ecfnb-errline">ERROR: &lt;img', page)
    finally:
        explorer.close()


def test_panel_tabs_read_through_the_map(demo, server, fsmap):
    explorer = explore(server, path=POST, interval=60)
    try:
        panel = explorer.panel
        assert "aborted" in panel.header.value and "try 1" in panel.header.value
        panel.tabs.selected_index = panel.tab_names.index("Output")  # as a click does
        output = fsmap.read(fsmap.path_of(POST, "jobout")).decode()
        last = output.strip().splitlines()[-1]
        assert html.escape(last) in panel.pages["Output"].value
        assert 'class="ecfnb-errline"' in panel.pages["Output"].value
        panel.search.value = "missing"
        assert 'class="ecfnb-hit"' in panel.pages["Output"].value
        panel.tabs.selected_index = panel.tab_names.index("Attributes")
        assert "trigger model == complete" in panel.pages["Attributes"].value
        panel.tabs.selected_index = panel.tab_names.index("Variables")
        assert "RESOLUTION" in panel.pages["Variables"].value  # inherited from the family
        panel.tabs.selected_index = panel.tab_names.index("Script")
        assert "%include" in html.unescape(re.sub("<[^>]+>", "", panel.pages["Script"].value))
        explorer.select("/demo/forecast")  # a family: no script, job or output tab
        assert panel.tab_names == ("Attributes", "Variables", "Manual", "Why", "Triggers",
                                   "Timeline", "Forecast", "Table", "Log", "Actions")
        assert panel.buttons["rerun"].layout.display == "none"  # a task's entry only
        assert not panel.buttons["suspend"].disabled and panel.buttons["resume"].disabled
    finally:
        explorer.close()


def test_action_with_confirmation_then_the_tree_follows(fresh_demo):
    explorer = explore(fresh_demo.address, path="/demo/housekeeping/nightly", interval=60)
    try:
        panel = explorer.panel
        panel.buttons["suspend"].click()
        assert panel.confirmation.layout.display == "" and "Suspend" in panel.question.value
        assert get_state(fresh_demo.port)["/demo/housekeeping/nightly"][1] == "queued"
        panel.no.click()  # cancelled: nothing happens
        assert panel.confirmation.layout.display == "none"
        assert get_state(fresh_demo.port)["/demo/housekeeping/nightly"][1] == "queued"
        panel.buttons["suspend"].click()
        panel.yes.click()
        assert "Suspended" in panel.message.value
        assert get_state(fresh_demo.port)["/demo/housekeeping/nightly"][1] == "suspended"
        view = explorer.tree.views[0]
        wait_for(lambda: label_state(view.nodes["/demo/housekeeping/nightly"].name)
                 == "suspended", timeout=20, what="tree label follows the action")
        # the reader thread relabels the node, then tells the panel: not at once
        wait_for(lambda: "suspended" in panel.header.value, timeout=5,
                 what="the panel's header follows the action")
    finally:
        explorer.close()


def test_read_only_explorer_and_white_list_refusal(fresh_demo, monkeypatch):
    explorer = explore(fresh_demo.address, path=POST, interval=60, read_only=True)
    try:
        assert all(b.disabled for b in explorer.panel.buttons.values())
        explorer.panel.request("requeue")
        assert "read_only=True" in explorer.panel.message.value
        assert explorer.panel.confirmation.layout.display == "none"
    finally:
        explorer.close()
    for name, value in make_read_only(fresh_demo).items():
        monkeypatch.setenv(name, value)
    explorer = explore(fresh_demo.address, path=POST, interval=60)
    try:
        explorer.panel.request("requeue")
        explorer.panel.confirm()
        message = html.unescape(explorer.panel.message.value)
        assert "refused" in message and "no *write* access" in message
        assert get_state(fresh_demo.port)[POST][1] == "aborted"
    finally:
        explorer.close()


def test_several_servers_one_down(demo):
    down = f"localhost:{free_port()}"
    explorer = explore([demo.address, down], interval=60)
    try:
        up_view, down_view = explorer.tree.views
        assert up_view.status == "connected" and "/demo" in up_view.nodes
        assert down_view.status == "disconnected" and not down_view.nodes
        assert "disconnected" in down_view.widget.name and "not reachable" in \
            explorer.tree.status.value
        assert len(explorer.tree.tree.nodes) == 2
    finally:
        explorer.close()


def test_refresh_never_blocks_the_kernel_on_a_hung_server(fresh_demo):
    tree = NodeTree([Server(fresh_demo.host, fresh_demo.port)], interval=0.5)
    try:
        view = tree.views[0]
        wait_for(lambda: view.status == "connected" and view.last_sync, timeout=20,
                 what="first poll")
        os.kill(fresh_demo.process.pid, signal.SIGSTOP)
        try:
            worst = worst_foreground_delay(6)
            wait_for(lambda: view.status == "disconnected", timeout=20, what="disconnected")
        finally:
            os.kill(fresh_demo.process.pid, signal.SIGCONT)
        assert worst < 0.2, f"kernel thread delayed {worst:.3f} s"
        assert "disconnected" in tree.status.value
        wait_for(lambda: view.status == "connected", timeout=60, what="reconnected")
    finally:
        tree.close()


def test_pause_resume_interval_and_close_leave_nothing(demo, tree):
    view = tree.views[0]
    wait_for(lambda: view.last_sync, timeout=20, what="first poll")
    tree.pause()
    assert "paused" in tree.status.value and not tree.live_button.value
    tree.interval = 2
    tree.resume()
    assert "every 2 s" in tree.status.value
    with pytest.raises(ValueError):
        tree.interval = 0
    pid = view.follower.pid
    tree.close()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_ecf_tree_magic(demo, shell, capsys):
    explorer = shell.run_line_magic("ecf_tree", f"{demo.address} {POST} --interval 30")
    try:
        assert isinstance(explorer, Explorer) and explorer.tree.interval == 30
        assert explorer.panel.info is not None and explorer.panel.info.path == POST
    finally:
        explorer.close()
    assert shell.run_line_magic("ecf_tree", f"{demo.address} /a /b") is None
    assert "usage: %ecf_tree" in capsys.readouterr().out
    assert shell.run_line_magic("ecf_tree", f"{demo.address} --interval x") is None
    assert "--interval needs a number" in capsys.readouterr().out



def test_tree_view_protocol_batches_and_answers_the_browser(monkeypatch):
    """What the single tree widget sends the browser, and what a browser click does."""
    from ecfnb.widgets.tree_view import Item, TreeView

    sent: list[dict] = []
    monkeypatch.setattr(TreeView, "send", lambda self, content, buffers=None: sent.append(content))
    view = TreeView()
    leaf, family = Item("<b>t</b>"), Item("f", [Item("loading…", disabled=True)])
    view.nodes = (leaf, family)
    assert sent[-1]["op"] == "children" and [c["html"] for c in sent[-1]["children"]] == \
        ["<b>t</b>", "f"]
    opened: list[bool] = []
    family.observe(lambda change: opened.append(change["new"]), "opened")
    before = len(sent)
    view.on_browser_message(view, {"op": "open", "id": family.id}, None)  # a click on the triangle
    assert family.opened and opened == [True]
    assert len(sent) == before  # no echo of the browser's own open back to it
    with view.batch():  # many changes, one message
        family.nodes = (Item("a"), Item("b"))
        leaf.name = "<b>t2</b>"
    assert sent[-1]["op"] == "batch" and [op["op"] for op in sent[-1]["ops"]] == \
        ["children", "label"]
    view.on_browser_message(view, {"op": "select", "id": leaf.id}, None)
    view.on_browser_message(view, {"op": "select", "id": family.nodes[0].id}, None)
    assert view.selected_nodes == (family.nodes[0],)  # one selection at a time
    view.on_browser_message(view, {"op": "hello"}, None)  # a view drawn later gets everything
    snapshot = sent[-1]
    assert snapshot["op"] == "snapshot" and len(snapshot["children"][1]["children"]) == 2
    view.close()


def test_explore_without_ipywidgets_says_what_to_install():
    out = error_without_ipywidgets("ecfnb.explore('localhost:1025')")
    assert "the explorer needs ipywidgets and anywidget" in out and "ecfnb[lab]" in out


def _private_mb(pid: int) -> float:
    """Memory the process holds alone (not shared with another): what a second copy
    of a tree costs."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name, _colon, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[name] = int(rest.split()[0])
    return (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024


def _rollup_mb(pid: int | str, *names: str) -> float:
    """The sum of ``names``' fields of /proc/PID/smaps_rollup, in MB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            name, _colon, rest = line.partition(":")
            if name in names:
                total += int(rest.split()[0])
    return total / 1024


@pytest.fixture(scope="module")
def wide_demo():
    """A generated server of 20,000 tasks: big enough that a copy of its tree shows."""
    from ecfnb import DemoServer

    with DemoServer(tasks=20_000) as demo:
        yield demo


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_poller_shares_the_kernels_tree(wide_demo, monkeypatch):
    """The explorer's poller is forked from the kernel once the kernel has synced: it
    holds little of its own (a poller that syncs for itself holds a whole copy), it
    still reports what the server changes, and closing the tree leaves no process."""
    demo = wide_demo
    private, pss, rss = {}, {}, {}
    for fork in ("1", "0"):
        monkeypatch.setenv("ECFNB_POLLER_FORK", fork)
        tree = NodeTree([Server(demo.host, demo.port)], interval=1)
        try:
            view = tree.views[0]
            built = view.last_sync  # the kernel's own sync
            wait_for(lambda v=view, b=built: v.status == "connected" and v.last_sync != b,
                     timeout=60, what="the poller's first poll")
            pid = view.follower.pid
            with open(f"/proc/{pid}/cmdline", "rb") as mine, \
                    open("/proc/self/cmdline", "rb") as kernel:
                forked = mine.read() == kernel.read()
            assert forked == (fork == "1")
            tree.expand("/gen00")
            first = next(p for p in view.nodes if p.count("/") == 2)
            if fork == "1":  # what the server changes still reaches the tree
                demo.client("--suspend", first)
                assert client(demo.port, "--query", "dstate", first).stdout.decode(
                    ).strip() == "suspended"
                wait_for(lambda v=view, p=first: label_state(v.nodes[p].name) == "suspended",
                         timeout=30, what="the suspension reported by the forked poller")
                demo.client("--resume", first)
            private[fork] = _private_mb(pid)
            # PSS splits a shared page between its sharers; RSS counts it in each
            pss[fork] = _rollup_mb("self", "Pss") + _rollup_mb(pid, "Pss")
            rss[fork] = _rollup_mb("self", "Rss") + _rollup_mb(pid, "Rss")
        finally:
            tree.close()
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert private["1"] < 0.35 * private["0"], private
    # Differences, not ratios: the kernel here is pytest's process, whose size
    # depends on the tests run before. 20k tasks, measured: the pair's PSS 85 MB
    # forked, 151 MB with a poller that syncs for itself (RSS 184 MB), of which that
    # poller alone 42 MB.
    assert pss["1"] < pss["0"] - 0.8 * private["0"], (pss, private)
    assert pss["1"] < rss["0"] - private["0"], (pss, rss, private)


def test_a_poller_that_holds_its_own_copy_again_is_forked_again(wide_demo, monkeypatch):
    """A forked poller that made a full sync (a suite loaded) or walked the whole tree
    (a filter) holds a copy of its own again; the next catch-up of the kernel's copy (a
    click) forks a new poller from it, which shares it, and ends the old one. Never
    while a filter is set. The new poller follows the server as the old one did."""
    demo = wide_demo
    # The thresholds are for an explorer's kernel, whose memory is mostly the tree;
    # pytest's process holds much else: here, more than 4 MB beyond what the poller
    # held after its first poll (20k tasks: a copy of the tree is ~30 MB).
    monkeypatch.setattr(ServerView, "REFORK_SHARE", 0.0)
    definition = demo.home / "extra.def"
    definition.write_text("suite extra\n  task t\nendsuite\n")
    tree = NodeTree([Server(demo.host, demo.port)], interval=3600)
    pids = []
    try:
        view = tree.views[0]
        assert tree.refresh(timeout=60)
        pids.append(view.follower.pid)
        shared = _private_mb(pids[0])
        monkeypatch.setattr(ServerView, "REFORK_AT_LEAST", int((1.5 * shared + 4) * 2**20))
        tree.catch_up(view)  # its pages are shared: it stays
        time.sleep(1)
        assert view.reforks == 0 and view.follower.pid == pids[0]

        demo.client("--load", str(definition))
        assert tree.refresh(timeout=60) and "/extra" in view.nodes
        copied = _private_mb(pids[0])  # its full sync: a tree of its own
        assert copied > 2 * shared + 4, (shared, copied)
        tree.catch_up(view)  # the kernel's full sync
        wait_for(lambda: view.reforks == 1 and view.follower.pid != pids[0], timeout=30,
                 what="a poller forked again")
        pids.append(view.follower.pid)
        with open(f"/proc/{pids[1]}/cmdline", "rb") as mine, \
                open("/proc/self/cmdline", "rb") as kernel:
            assert mine.read() == kernel.read()  # a fork of this process
        wait_for(lambda: _gone(pids[0]), timeout=10, what="the old poller to end")
        assert tree.refresh(timeout=60)
        assert _private_mb(pids[1]) < 0.5 * copied, (shared, copied, _private_mb(pids[1]))

        demo.client("--suspend", "/extra/t")  # the new poller follows the server
        assert client(demo.port, "--query", "dstate", "/extra/t").stdout.decode(
            ).strip() == "suspended"
        tree.expand("/extra")
        wait_for(lambda: label_state(view.nodes["/extra/t"].name) == "suspended",
                 timeout=30, what="the suspension reported by the new poller")

        assert tree.set_filter(("aborted",), wait=True, timeout=60)
        walked = _private_mb(pids[1])  # the filter walked every node
        assert walked > 2 * shared + 4, (shared, walked)
        tree.catch_up(view)
        time.sleep(1)
        assert view.reforks == 1 and view.follower.pid == pids[1]  # not while filtering
        assert tree.set_filter(wait=True, timeout=60)
        tree.catch_up(view)
        wait_for(lambda: view.reforks == 2 and view.follower.pid != pids[1], timeout=30,
                 what="a poller forked again after the filter")
        pids.append(view.follower.pid)
        assert tree.refresh(timeout=60)
        assert label_state(view.nodes["/extra/t"].name) == "suspended"
    finally:
        tree.close()
        demo.client("--delete=force", "yes", "/extra", check=False)
    for pid in pids:
        wait_for(lambda p=pid: _gone(p), timeout=10, what=f"poller {pid} to end")


KERNEL = """
import os, sys, time
from ecfnb import explore
explorer = explore(sys.argv[1], interval=1)
explorer.tree.refresh(wait=True, timeout=60)
pid = explorer.tree.views[0].follower.pid
with open(f"/proc/{pid}/cmdline", "rb") as poller, open("/proc/self/cmdline", "rb") as me:
    print(pid, poller.read() == me.read(), flush=True)
time.sleep(600)
"""


def test_a_forked_poller_ends_when_its_kernel_is_killed(demo):
    """The forked poller is in a session of its own (the kernel's interrupt must not
    reach it), so nothing kills it with the kernel: it sees its parent gone (and its
    commands' pipe closed) and ends by itself."""
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, demo.address],
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "ECFNB_POLLER_FORK": "1"})
    try:
        pid_text, forked = kernel.stdout.readline().split()
        pid = int(pid_text)
        assert forked == "True"
        assert os.getsid(pid) == pid != os.getsid(kernel.pid)  # its own session
    finally:
        kernel.kill()
        kernel.wait(10)
    wait_for(lambda: _gone(pid), timeout=10, what="the forked poller to end with its kernel")
