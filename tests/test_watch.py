"""The abort watcher against real servers running real jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ecfnb import AbortEvent, AbortWatcher, DemoServer, free_port

from conftest import get_state, wait_for, worst_foreground_delay

ECFNB = [sys.executable, "-m", "ecfnb"]


def connected(watcher: AbortWatcher, timeout: float = 20) -> None:
    wait_for(lambda: watcher.status == "connected" and watcher.polls >= 1, timeout=timeout,
             what=f"watcher connected (status {watcher.status})")


def make_fetch_obs_fail(demo: DemoServer, code: int = 3) -> None:
    script = demo.home / "scripts" / "fetch_obs.ecf"
    script.write_text(script.read_text().replace('echo "fetching', f'exit {code}\necho "fetching'))
    demo.client("--requeue", "/demo/prepare/fetch_obs")


def test_real_abort_reported_within_interval_with_output(fresh_demo):
    interval = 1.0
    with AbortWatcher(fresh_demo.address, interval=interval) as watcher:
        connected(watcher)
        make_fetch_obs_fail(fresh_demo)
        wait_for(lambda: get_state(fresh_demo.port)["/demo/prepare/fetch_obs"][1] == "aborted",
                 interval=0.05, what="fetch_obs to abort")
        aborted_at = time.monotonic()
        event = watcher.wait_for_event(lambda e: e.path == "/demo/prepare/fetch_obs",
                                       timeout=interval + 5)
        latency = time.monotonic() - aborted_at
    assert event is not None and latency <= interval + 1, latency
    assert isinstance(event, AbortEvent) and event.try_no == 1  # a requeue restarts at 1
    assert event.reason == "exit 3"
    assert "ecfnb demo: job failed: exit 3" in event.output_tail
    assert "/demo/forecast/post" not in [e.path for e in watcher.events]  # aborted before


def test_abort_requeue_abort_is_two_events_existing_ones_only_when_asked(fresh_demo):
    seen: list[AbortEvent] = []
    with AbortWatcher(fresh_demo.address, interval=0.5, on_abort=seen.append) as watcher:
        connected(watcher)
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/archive/store", timeout=10)
        time.sleep(1.2)  # state-change times have one-second resolution
        fresh_demo.client("--requeue", "/demo/archive/store")
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        wait_for(lambda: sum(e.path == "/demo/archive/store" for e in seen) == 2, timeout=10,
                 what="the second abort")
        time.sleep(1.5)  # a few more polls: nothing new
    assert [e.path for e in seen] == ["/demo/archive/store"] * 2
    assert seen[0].time < seen[1].time
    with AbortWatcher(fresh_demo.address, include_existing=True, interval=0.5) as everything:
        event = everything.wait_for_event(lambda e: e.path == "/demo/forecast/post", timeout=10)
    assert event is not None and "ERROR: input file" in event.output_tail


def test_paths_restrict_to_subtrees(fresh_demo):
    with AbortWatcher(fresh_demo.address, ["/demo/forecast"], interval=0.5,
                      include_existing=True) as watcher:
        connected(watcher)
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        fresh_demo.client("--force=aborted", "/demo/forecast/report")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/forecast/report", timeout=10)
        time.sleep(1)
    assert {e.path for e in watcher.events} == {"/demo/forecast/post", "/demo/forecast/report"}


def test_callback_errors_do_not_stop_the_watcher(fresh_demo, caplog):
    def broken(event):
        raise RuntimeError("my mailer is broken")

    with AbortWatcher(fresh_demo.address, interval=0.5, on_abort=broken) as watcher:
        connected(watcher)
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        assert watcher.wait_for_event(timeout=10)
        fresh_demo.client("--force=aborted", "/demo/forecast/report")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/forecast/report", timeout=10)
        assert watcher.running
    assert "my mailer is broken" in caplog.text


def test_idle_poll_is_one_request():
    with DemoServer(tasks=40) as quiet, AbortWatcher(quiet.address, interval=0.3) as watcher:
        wait_for(lambda: watcher.polls >= 4, timeout=20, what="four polls")
        assert watcher.last_poll_requests == 1


def test_restart_from_checkpoint_no_duplicates(fresh_demo):
    with AbortWatcher(fresh_demo.address, interval=0.5) as watcher:
        connected(watcher)
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/archive/store", timeout=10)
        fresh_demo.checkpoint()
        fresh_demo.kill()
        wait_for(lambda: watcher.status == "disconnected", timeout=15, what="disconnected")
        assert "not reachable" in watcher.message
        fresh_demo.restart()
        wait_for(lambda: watcher.status == "connected", timeout=90, what="reconnected")
        fresh_demo.client("--force=aborted", "/demo/housekeeping/nightly")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/housekeeping/nightly",
                                      timeout=90)
        time.sleep(1)
    paths = [e.path for e in watcher.events]
    assert paths.count("/demo/archive/store") == 1 and paths.count("/demo/forecast/post") == 0


def test_hung_server_keeps_the_foreground_responsive(fresh_demo):
    with AbortWatcher(fresh_demo.address, interval=0.3) as watcher:
        connected(watcher)
        os.kill(fresh_demo.process.pid, signal.SIGSTOP)
        try:
            worst = worst_foreground_delay(5)  # a foreground action every 20 ms
            wait_for(lambda: watcher.status == "disconnected", timeout=15, what="disconnected")
        finally:
            os.kill(fresh_demo.process.pid, signal.SIGCONT)
        assert worst < 0.2, f"foreground delayed {worst:.3f} s"
        wait_for(lambda: watcher.status == "connected", timeout=90, what="recovered")
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        assert watcher.wait_for_event(lambda e: e.path == "/demo/archive/store", timeout=30)


def test_stop_leaves_nothing_running(demo):
    watcher = AbortWatcher(demo.address, interval=0.5).start()
    connected(watcher)
    pid = watcher.pid
    watcher.stop()
    assert not watcher.running and not os.path.exists(f"/proc/{pid}")
    assert not any(t.name.startswith("ecfnb-watch") for t in threading.enumerate())


def test_cli_once_and_bad_address(demo):
    once = subprocess.run([*ECFNB, "watch", demo.address, "--once"], capture_output=True,
                          text=True, timeout=60)
    assert once.returncode == 0
    assert "ABORTED /demo/forecast/post" in once.stdout and "ERROR: input file" in once.stdout
    bad = subprocess.run([*ECFNB, "watch", f"localhost:{free_port()}"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "not reachable" in bad.stderr and "Traceback" not in bad.stderr
    worse = subprocess.run([*ECFNB, "watch", "localhost:notaport"], capture_output=True,
                           text=True, timeout=60)
    assert worse.returncode == 1 and "bad ecFlow port" in worse.stderr


def test_cli_mails_one_message_per_abort(fresh_demo):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    proc = subprocess.Popen([*ECFNB, "watch", fresh_demo.address, "--interval", "0.5",
                             "--mail-to", "ops@example.org", "--smtp", f"127.0.0.1:{smtp.port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # connected, first poll done
        make_fetch_obs_fail(fresh_demo)
        wait_for(lambda: len(inbox.messages) == 1, timeout=20, what="one mail")
        time.sleep(1.2)
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        wait_for(lambda: len(inbox.messages) == 2, timeout=20, what="a second mail")
        time.sleep(2)
        assert len(inbox.messages) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        smtp.stop()
    assert proc.returncode == 0, err
    first = inbox.messages[0].content.decode()
    assert f"Subject: [ecFlow {fresh_demo.address}] aborted: /demo/prepare/fetch_obs" in first
    assert "ecfnb demo: job failed: exit 3" in first  # the real output tail
    assert inbox.messages[0].rcpt_tos == ["ops@example.org"]
    assert "ABORTED /demo/archive/store" in out
    assert "Traceback" not in err
    assert subprocess.run(["pgrep", "-f", f"ecfnb._watch.poller {fresh_demo.address}"],
                          capture_output=True).stdout == b""


@pytest.mark.parametrize("args,message", [(["--mail-to", "a@b"], "--mail-to needs --smtp")])
def test_cli_usage_errors(demo, args, message):
    proc = subprocess.run([*ECFNB, "watch", demo.address, *args], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and message in proc.stderr


def test_abort_again_on_a_halted_server_is_a_new_event():
    """A halted server's suite clock stands still: state-change times repeat."""
    with DemoServer(tasks=40) as halted, AbortWatcher(halted.address, interval=0.3) as watcher:
        connected(watcher)
        task = "/gen00/f000/g00/t000"
        halted.client("--force=aborted", task)
        assert watcher.wait_for_event(lambda e: e.path == task, timeout=10)
        halted.client("--requeue", task)
        time.sleep(1)  # seen queued
        halted.client("--force=aborted", task)
        assert watcher.wait_for_event(lambda e: e.path == task, timeout=10)


def test_task_active_longer_than_threshold_is_reported_once(demo):
    from ecfnb import LateEvent

    with AbortWatcher(demo.address, ["/demo/monitor"], interval=0.5,
                      active_threshold=1) as watcher:
        event = watcher.wait_for_event(lambda e: isinstance(e, LateEvent), timeout=20)
        time.sleep(1.5)
    assert event is not None and event.path == "/demo/monitor/progress"
    assert event.why.startswith("overdue: active for")
    assert sum(isinstance(e, LateEvent) for e in watcher.events) == 1
