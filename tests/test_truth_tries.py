"""The right try on every surface: real retries (ECF_TRIES 2), a rerun, and surfaces that
were already open when the try changed. Every figure is checked against
``ecflow_client --get_state`` and the job files on disk, read independently."""

from __future__ import annotations

import html
import re

import pytest

from ecfnb import AbortEvent, AbortWatcher, DemoServer, FileSystemMap, Server, incident, send_event

from helpers import Inbox, job, job_file, job_output, suite_head, task_state, wait_until

FLAKY = "/retry/flaky"    # aborts on try 1, completes on every later try
BROKEN = "/retry/broken"  # aborts on both tries

SCRIPT = job("""
echo "output of %ECF_NAME% try %ECF_TRYNO%: marker-%ECF_TRYNO%-{kind}"
sleep 2
if [ %ECF_TRYNO% -lt {good_from} ]; then
  echo "ERROR: try %ECF_TRYNO% fails"
  ecflow_client --abort="failed on try %ECF_TRYNO%"
  exit 0
fi
""")


def retry_suite() -> DemoServer:
    definition = suite_head("retry", tries=2) + "  task flaky\n  task broken\nendsuite\n"
    files = {"retry/flaky.ecf": SCRIPT.replace("{kind}", "flaky").replace("{good_from}", "2"),
             "retry/broken.ecf": SCRIPT.replace("{kind}", "broken").replace("{good_from}", "9")}
    return DemoServer(definition=definition, files=files)


@pytest.fixture
def retry():
    with retry_suite() as server:
        yield server


def settle(server: Server, port: int, path: str, state: str, try_no: int) -> None:
    """Sync the already-open ``server`` incrementally until ecflow_client says ``path``
    is in ``state`` on ``try_no``."""
    def there() -> bool:
        server.sync()
        fields = task_state(port, path)
        return fields.get("state") == state and fields.get("try") == str(try_no)
    wait_until(there, timeout=40, what=f"{path} {state} on try {try_no}")


def test_every_surface_names_the_same_try_and_shows_its_bytes(retry):
    server = Server(retry.host, retry.port)
    server.sync()  # the full sync happens now, on try 1: the case that went stale
    fsmap = FileSystemMap(server)
    assert server.node(FLAKY).try_no == 1
    settle(server, retry.port, FLAKY, "complete", 2)
    info = server.node(FLAKY)
    assert info.try_no == 2 and info.variable("ECF_TRYNO") == "2"
    assert server.variable(FLAKY, "ECF_JOBOUT").endswith("/retry/flaky.2")
    out = job_output(retry.home, FLAKY, 2)
    assert b"marker-2-flaky" in out and b"marker-1" not in out
    assert fsmap.read(FLAKY + ".out") == out
    assert fsmap.read(FLAKY + ".job") == job_file(retry.home, FLAKY, 2)
    assert fsmap.tail(FLAKY + ".out", 5).endswith(out.splitlines(keepends=True)[-1])
    record = incident(FLAKY, server)
    assert record.try_no == 2 and "marker-2-flaky" in record.output_tail
    assert "marker-1" not in record.output_tail and "try 2" in record.output_source

    # A rerun: try 3, its own file; the same already-open surfaces follow.
    retry.client("--force=queued", FLAKY)
    settle(server, retry.port, FLAKY, "complete", 3)
    assert server.node(FLAKY).try_no == 3
    assert fsmap.read(FLAKY + ".out") == job_output(retry.home, FLAKY, 3)
    assert b"marker-3-flaky" in fsmap.read(FLAKY + ".out")


def test_the_open_panel_follows_the_new_try(retry):
    pytest.importorskip("ipywidgets")
    from ecfnb import NodePanel

    server = Server(retry.host, retry.port)
    server.sync()
    panel = NodePanel()
    settle(server, retry.port, FLAKY, "active", 1)
    panel.show(server, FileSystemMap(server), FLAKY, tab="Output")  # open on try 1
    wait_until(lambda: "marker-1-flaky" in panel.pages["Output"].value or
               panel.show(server, FileSystemMap(server), FLAKY, tab="Output"),
               what="try 1's output in the panel")
    settle(server, retry.port, FLAKY, "complete", 2)
    panel.node_changed(server.node(FLAKY, detail=False))  # what the tree tells it
    shown = panel.pages["Output"].value
    assert "marker-2-flaky" in shown and "marker-1-flaky" not in shown
    panel.tabs.selected_index = panel.tab_names.index("Job")
    job_text = html.unescape(re.sub(r"<[^>]+>", "", panel.pages["Job"].value))
    assert "ECF_TRYNO=2" in job_text and "ECF_TRYNO=1" not in job_text
    assert job_text.strip() == job_file(retry.home, FLAKY, 2).decode().strip()
    panel.close()


def test_the_watcher_and_the_mail_carry_each_tries_own_output(retry):
    events: list[AbortEvent] = []
    with Inbox() as inbox, AbortWatcher(retry.address, ["/retry"], interval=0.5,
                                        include_existing=False,
                                        on_abort=lambda e: (events.append(e), send_event(
                                            e, ["ops@example.org"], inbox.address))) as watcher:
        wait_until(lambda: len([e for e in events if e.path == BROKEN]) >= 2, timeout=60,
                   what="two aborts of broken")
        assert watcher.status == "connected"
        wait_until(lambda: len(inbox.messages) >= len(events), what="the mails")
    broken = sorted((e for e in events if e.path == BROKEN), key=lambda e: e.try_no)
    assert [e.try_no for e in broken] == [1, 2]
    for event in broken:
        own = job_output(retry.home, BROKEN, event.try_no).decode()
        assert f"marker-{event.try_no}-broken" in event.output_tail
        assert event.output_tail.strip().splitlines()[-1] in own
        other = 3 - event.try_no
        assert f"marker-{other}-broken" not in event.output_tail
        assert event.reason == f"failed on try {event.try_no}"
    flaky = [e for e in events if e.path == FLAKY]
    assert [e.try_no for e in flaky] == [1] and "marker-1-flaky" in flaky[0].output_tail
    mails = [t for t in inbox.texts() if BROKEN in t]
    assert len(mails) == 2
    for try_no in (1, 2):
        assert sum(f"marker-{try_no}-broken" in text for text in mails) == 1
    fields = task_state(retry.port, BROKEN)
    assert fields["state"] == "aborted" and fields["try"] == "2"
