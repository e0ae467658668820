"""The explorer's open panel follows its node: the open tab is read again when the node
changes, a running job's output grows in place, the server's own row shows the server,
a deleted node says so, and a state filter pages through every match. Checked against
``ecflow_client`` and the files on disk."""

from __future__ import annotations

import re
import subprocess

import pytest

pytest.importorskip("ipywidgets")

from ecfnb import DemoServer, Server, explore  # noqa: E402

from conftest import get_state  # noqa: E402
from helpers import client, wait_until  # noqa: E402

PROGRESS = "/demo/monitor/progress"
POST = "/demo/forecast/post"


def meter_now(port: int) -> str:
    """The progress meter's value as ``--get_state`` prints it ('meter ... # 42')."""
    out = client(port, "--get_state", PROGRESS).stdout.decode()
    found = re.search(r"meter progress 0 100 100 # (\d+)", out)
    return found.group(1) if found else "0"


@pytest.fixture
def explorer(fresh_demo):
    explorer = explore(Server(fresh_demo.host, fresh_demo.port), interval=0.5)
    yield explorer
    explorer.close()


def test_the_open_attributes_tab_follows_the_meter_and_a_requeue(fresh_demo, explorer):
    panel = explorer.panel
    explorer.select(PROGRESS)
    panel.tabs.selected_index = panel.tab_names.index("Attributes")

    def shown_meter() -> str:
        found = re.search(r"# now: meter progress (\d+)", panel.pages["Attributes"].value)
        return found.group(1) if found else ""

    first = shown_meter()
    assert first
    wait_until(lambda: shown_meter() not in ("", first), timeout=20,
               what="the open Attributes tab to show the meter moving")

    def agrees() -> bool:
        """After a refresh, the tab shows the meter the server has (it moves every 2 s)."""
        explorer.tree.refresh()
        return shown_meter() == meter_now(fresh_demo.port)

    wait_until(agrees, timeout=20, what="the tab to agree with the server")

    explorer.select(POST)
    before = panel.pages["Attributes"].value
    panel.request("requeue")
    panel.confirm()
    assert "Requeued" in panel.message.value
    wait_until(lambda: panel.pages["Attributes"].value != before, timeout=20,
               what="the Attributes tab to change after the requeue")

    def same_state() -> bool:
        explorer.tree.refresh()
        state = client(fresh_demo.port, "--query", "dstate", POST).stdout.decode().strip()
        return f"state:{state}" in panel.pages["Attributes"].value

    wait_until(same_state, timeout=20, what="the tab to show the server's state")
    explorer.select("/demo/prepare")
    assert panel.message.value == ""  # the last action's message goes with its node


def test_the_output_of_a_running_task_grows_in_place(fresh_demo, explorer):
    panel = explorer.panel
    panel.follow_seconds = 0.5
    explorer.select(PROGRESS)
    panel.tabs.selected_index = panel.tab_names.index("Output")
    view = panel.pages["Output"]
    start = view.line_count
    sent: list[dict] = []
    real_send = view.send
    view.send = lambda message, *a, **k: (sent.append(message), real_send(message, *a, **k))
    wait_until(lambda: view.line_count >= start + 2, timeout=20,
               what="the job's new lines in the Output tab")
    assert sent and all(m["op"] == "append" for m in sent)  # never the whole text again
    on_disk = (fresh_demo.home / "demo" / "monitor" / "progress.1").read_text(errors="replace")
    shown = re.sub(r"<[^>]+>", "", view.value)
    import html

    shown_lines = html.unescape(shown).strip().splitlines()
    assert shown_lines == on_disk.strip().splitlines()[:len(shown_lines)]


def test_the_servers_row_shows_the_server_and_only_its_commands(fresh_demo, explorer):
    panel = explorer.panel
    explorer.select(POST)
    explorer.select("/")
    assert panel.info is not None and panel.info.path == "/"
    assert panel.tab_names[0] == "Server"
    version = subprocess.run(["ecflow_client", "--port", str(fresh_demo.port),
                              "--server_version"], capture_output=True, text=True).stdout
    assert version.strip().split()[-1] in panel.pages["Server"].value
    assert "demo" in panel.pages["Server"].value
    shown = {name for name, button in panel.buttons.items() if button.layout.display != "none"}
    assert shown == {"restart", "shutdown", "halt", "checkpoint"}
    assert panel.buttons["restart"].disabled and not panel.buttons["halt"].disabled


def test_a_deleted_node_says_it_is_gone(fresh_demo, explorer):
    panel = explorer.panel
    explorer.select("/demo/housekeeping/nightly")
    fresh_demo.client("--delete=force", "yes", "/demo/housekeeping")
    def gone() -> bool:
        explorer.tree.refresh()
        return "is gone" in panel.header.value

    wait_until(gone, timeout=20, what="the panel to say the node is gone")
    assert all(button.disabled for button in panel.buttons.values())


def test_a_state_filter_pages_through_every_match():
    with DemoServer(tasks=400) as big:
        explorer = explore(Server(big.host, big.port), interval=60, match_limit=10)
        try:
            tree = explorer.tree
            queued = [p for p, (_kind, state) in get_state(big.port).items()
                      if state == "queued"]
            assert len(queued) > 25  # more than two pages
            assert tree.set_filter(["queued"], wait=True)
            view = tree.views[0]
            wait_until(lambda: view.matches[0] == 10, timeout=20, what="the first page")
            assert view.matches[1] == len(queued)
            more = [w for w in view.widget.nodes if "more matches" in w.name]
            assert len(more) == 1
            more[0].selected = True  # a click on "… N more matches"
            wait_until(lambda: view.matches[0] == 20, timeout=20, what="the second page")
        finally:
            explorer.close()


def test_a_family_shows_its_manual_and_an_empty_one_says_so(demo):
    explorer = explore(Server(demo.host, demo.port), interval=60)
    try:
        panel = explorer.panel
        explorer.select("/demo/forecast")
        panel.tabs.selected_index = panel.tab_names.index("Manual")
        manual = (demo.home / "scripts" / "forecast.man").read_text()
        first = manual.splitlines()[0]
        assert first in panel.pages["Manual"].value
        assert client(demo.port, "--file=/demo/forecast", "manual").stdout.decode() \
            .startswith(first)
        explorer.select("/demo/prepare")  # no manual: said, not a blank page
        assert "has no manual" in panel.pages["Manual"].value
        explorer.select("/demo/archive/store")
        panel.tabs.selected_index = panel.tab_names.index("Why")
        assert panel.pages["Why"].value.strip()
    finally:
        explorer.close()
