"""The watch panel (ecfnb/widgets) without a browser: real servers, real watchers.

What a user sees is the widgets' values: the status line, the alert banner, the rows
of events; every string from the server or a job must arrive there HTML-escaped.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

from ecfnb import AbortEvent, LateEvent, Server, WatchPanel, watch
from ecfnb.widgets import watch_html

from conftest import error_without_ipywidgets, wait_for
from helpers import server_version

XSS = '<img src=x onerror="window.__xss=1">'
XSS_ESCAPED = "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;"
STORE = "/demo/archive/store"


def pollers(port: int) -> list[str]:
    """Command lines of the polling processes watching ``port``."""
    found = subprocess.run(["pgrep", "-af", f"ecfnb._watch.poller localhost:{port}"],
                           capture_output=True, text=True).stdout
    return found.splitlines()


def connected(panel: WatchPanel, timeout: float = 20) -> None:
    wait_for(lambda: panel.watcher.polls >= 1 and "<b>connected</b>" in panel.status.value,
             timeout=timeout, what=f"panel connected ({panel.status.value})")


def write_jobout(demo, path: str, text: str) -> None:
    """Write ``text`` where the task's job output goes (it never ran: no file yet)."""
    server = Server(demo.host, demo.port)
    server.sync()
    jobout = Path(server.variable(path, "ECF_JOBOUT"))
    jobout.parent.mkdir(parents=True, exist_ok=True)
    jobout.write_text(text)


def test_forced_abort_appears_live_escaped_with_alert(fresh_demo):
    panel = watch(fresh_demo.address, interval=1)
    try:
        assert isinstance(panel, WatchPanel) and panel.watcher.running
        assert "application/vnd.jupyter.widget-view+json" in panel._repr_mimebundle_()
        connected(panel)
        assert fresh_demo.address in panel.status.value and not panel.alert_visible
        write_jobout(fresh_demo, STORE, f"starting store\n{XSS}\nERROR: tape not mounted\n"
                                        "exit 0\n")
        fresh_demo.client("--force=aborted", STORE)
        assert panel.watcher.wait_for_event(lambda e: e.path == STORE, timeout=15)
        rows = wait_for(lambda: panel.shown_events, timeout=5, what="a row in the panel")
        assert len(rows) == 1 and f"<code>{STORE}</code>" in rows[0]
        assert XSS_ESCAPED in rows[0] and "<img" not in rows[0]
        assert ('<span class="ecfnb-watch-errline">ERROR: tape not mounted</span>'
                in rows[0])
        assert "\nexit 0" in rows[0]  # exit 0 is no error
        assert panel.alert_visible
        assert f"New abort: <code style=\"color:inherit\">{STORE}</code>" in (
            panel.alert_text.value)
        assert "<b>connected</b>" in panel.status.value and "1 abort" in panel.status.value
        panel.dismiss_button.click()
        assert not panel.alert_visible
        assert len(pollers(fresh_demo.port)) == 1
    finally:
        panel.close()
    assert not panel.watcher.running and panel.watcher.status == "stopped"
    assert pollers(fresh_demo.port) == []


def test_dead_server_shows_disconnected_then_stop_button_stops(fresh_demo):
    panel = watch(fresh_demo.address, "/demo/archive", interval=1)  # one path as a str
    try:
        connected(panel)
        assert panel.watcher.paths == ["/demo/archive"]
        fresh_demo.kill()
        wait_for(lambda: "<b>disconnected</b>: " in panel.status.value, timeout=10,
                 what=f"the panel to say disconnected ({panel.status.value})")
        assert "not reachable" in panel.status.value and not panel.stop_button.disabled
        panel.stop_button.click()
        assert not panel.watcher.running and pollers(fresh_demo.port) == []
        assert "<b>stopped</b>" in panel.status.value and panel.stop_button.disabled
        assert panel.stop_button.description == "Stopped"
    finally:
        panel.close()


def test_event_html_escapes_everything_from_the_server():
    when = datetime(2026, 11, 27, 14, 23, 22, tzinfo=timezone.utc)
    abort = AbortEvent(f"h:1{XSS}", f"/s/{XSS}", when, 2, f"reason {XSS}",
                       f"all fine\nTraceback (most recent call last):\n{XSS}\nexit 1\nexit 0\n")
    text = watch_html.event_html(abort)
    assert "<img" not in text and text.count(XSS_ESCAPED) == 3
    assert "14:23:22 UTC" in text and "try 2" in text
    assert "<pre>" in text and "<details>" in text
    errlines = [part.split("</span>")[0] for part in text.split('"ecfnb-watch-errline">')[1:]]
    # 'onerror' contains 'error': substring matching, so that 'RuntimeError:' counts too
    assert errlines == ["Traceback (most recent call last):", XSS_ESCAPED, "exit 1"]
    late = LateEvent("h:1", f"/s/{XSS}", when, f"zombie: {XSS}")
    assert "<img" not in watch_html.event_html(late)
    assert "<img" not in watch_html.alert_html(abort, more=2)
    assert "and 2 more" in watch_html.alert_html(abort, more=2)
    assert watch_html.output_html("") == "<pre>(no output)</pre>"


class FakeWatcher:
    """Just what the panel reads, and a way to call its listeners as the reader does."""

    def __init__(self) -> None:
        self.address, self.paths, self.status, self.message = f"h:1{XSS}", [], "connected", XSS
        self.events: list = []
        self.last_poll, self.polls, self.listeners, self.stopped = None, 3, [], False

    def add_listener(self, listener) -> None:
        self.listeners.append(listener)

    def emit(self, event) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener("event", event)

    def stop(self) -> None:
        self.stopped, self.status = True, "stopped"
        for listener in self.listeners:
            listener("status", self)


def live_widgets() -> int:
    from ipywidgets.widgets.widget import _instances

    return len(_instances)


def test_event_rows_are_bounded_newest_first():
    baseline = live_widgets()
    watcher = FakeWatcher()
    early = LateEvent("h:1", "/s/before", datetime.now(timezone.utc), "late: flagged")
    watcher.events.append(early)  # seen before the panel existed: shown, no alert
    panel = WatchPanel(watcher, max_events=5)
    assert panel.shown_events and not panel.alert_visible
    assert "<img" not in panel.status.value and XSS_ESCAPED in panel.status.value
    for n in range(12):
        watcher.emit(AbortEvent("h:1", f"/s/t{n}", datetime.now(timezone.utc), 1, "", ""))
    assert len(panel.events.children) == 5
    bounded = live_widgets()
    for n in range(12, 40):
        watcher.emit(LateEvent("h:1", f"/s/t{n}", datetime.now(timezone.utc), "late: x"))
    assert live_widgets() == bounded  # rows, with their layout and style, are closed
    assert [f"/s/t{n}</code>" in row for n, row in zip(range(39, 34, -1), panel.shown_events,
                                                       strict=True)] == [True] * 5
    assert "36 older events not shown" in panel.hidden.value
    assert panel.hidden.layout.display != "none"
    assert "and 11 more" in panel.alert_text.value
    panel.close()
    assert watcher.stopped and live_widgets() == baseline
    watcher.emit(AbortEvent("h:1", "/s/late", datetime.now(timezone.utc), 1, "", ""))
    assert panel.shown_events == []  # a closed panel ignores its watcher




def test_ecf_watch_magic_watches_the_given_paths(shell, fresh_demo):
    panel = shell.run_line_magic("ecf_watch", f"{fresh_demo.address} /demo/archive --interval 1")
    try:
        assert isinstance(panel, WatchPanel)
        assert panel.watcher.address == fresh_demo.address
        assert panel.watcher.paths == ["/demo/archive"] and panel.watcher.interval == 1
        assert shell.run_line_magic("ecf_watchers", "") == [panel.watcher]
        connected(panel)
        fresh_demo.client("--force=aborted", "/demo/prepare/fetch_obs")  # not watched
        fresh_demo.client("--force=aborted", STORE)
        event = panel.watcher.wait_for_event(timeout=15)
        assert event is not None and event.path == STORE
    finally:
        panel.close()
    assert not panel.watcher.running and pollers(fresh_demo.port) == []


def test_ecf_watch_defaults_to_the_connected_server(shell, fresh_demo, capsys):
    shell.run_line_magic("ecf_connect", fresh_demo.address)
    assert f"ecFlow {server_version(fresh_demo.port)}" in capsys.readouterr().out
    panel = shell.run_line_magic("ecf_watch", "/demo/forecast /demo/archive")
    try:
        assert panel.watcher.address == fresh_demo.address
        assert panel.watcher.paths == ["/demo/forecast", "/demo/archive"]
        assert panel.watcher.interval == 10
    finally:
        panel.close()
    assert shell.run_line_magic("ecf_watch", f"{fresh_demo.address} demo") is None
    assert capsys.readouterr().out.startswith("ecfnb: usage: %ecf_watch [HOST:PORT]")
    assert shell.run_line_magic("ecf_watch", "/demo --interval soon") is None
    assert "--interval needs a number of seconds" in capsys.readouterr().out
    assert shell.run_line_magic("ecf_watch", "/demo --interval 0") is None
    assert "interval must be a positive number" in capsys.readouterr().out
    assert shell.run_line_magic("ecf_watch", "/demo --deadline /demo") is None
    assert "give PATH=WHEN" in capsys.readouterr().out
    assert shell.run_line_magic("ecf_watch", "/demo --deadline /demo=25:00") is None
    assert "bad deadline" in capsys.readouterr().out
    assert shell.run_line_magic("ecf_watchers", "") == [panel.watcher] and not panel.watcher.running
    timed = shell.run_line_magic("ecf_watch", "/demo --deadline /demo/forecast=23:59")
    try:
        assert [p for p, _when in timed.watcher.options.deadlines] == ["/demo/forecast"]
    finally:
        timed.close()


def test_ecfnb_watch_is_the_panel_function_and_needs_no_ipywidgets_to_import():
    import ecfnb
    import ecfnb._watch.watcher  # noqa: F401 - the AbortWatcher module must not replace the function
    from ecfnb import AbortWatcher  # noqa: F401

    assert callable(ecfnb.watch) and ecfnb.watch.__module__ == "ecfnb"
    assert "watch" in ecfnb.__all__ and ecfnb.WatchPanel is WatchPanel
    out = error_without_ipywidgets("ecfnb.watch('localhost:1025')")
    assert "the watch panel needs ipywidgets" in out
