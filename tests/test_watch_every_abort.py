"""The watcher reports every abort, each once: during start-up, retried between two polls,
real zombies once, real late flags once per flagging; and its command line says what is
wrong before it starts."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from ecfnb import AbortEvent, AbortWatcher, DemoServer, LateEvent, ZombieEvent

from helpers import Inbox, job, job_output, suite_head, task_state, wait_until

ECFNB = [sys.executable, "-m", "ecfnb"]


def connected(watcher: AbortWatcher, timeout: float = 30) -> None:
    wait_until(lambda: watcher.status == "connected" and watcher.polls >= 1, timeout=timeout,
               what=f"watcher connected (status {watcher.status}: {watcher.message})")


def test_an_abort_during_start_up_is_reported(fresh_demo):
    watcher = AbortWatcher(fresh_demo.address, interval=1)
    watcher.start()
    try:
        # Before the polling process has even imported ecfnb: the abort lands between
        # start() and the first poll.
        fresh_demo.client("--force=aborted", "/demo/archive/store")
        event = watcher.wait_for_event(lambda e: e.path == "/demo/archive/store", timeout=30,
                                       include_history=True)
        connected(watcher)
        time.sleep(2.5)
    finally:
        watcher.stop()
    assert isinstance(event, AbortEvent)
    paths = [e.path for e in watcher.events]
    assert paths.count("/demo/archive/store") == 1
    assert "/demo/forecast/post" not in paths  # aborted before start(): existing


RETRIED = job("""
echo "try %ECF_TRYNO% of %ECF_NAME% says marker-%ECF_TRYNO%"
if [ %ECF_TRYNO% -eq 1 ]; then
  ecflow_client --abort="first try fails fast"
  exit 0
fi
sleep 60
""")


def test_an_abort_retried_before_the_next_poll_is_reported_with_its_own_output():
    definition = suite_head("r", tries=2) + "  task t\n    defstatus suspended\nendsuite\n"
    with DemoServer(definition=definition, files={"r/t.ecf": RETRIED}) as server:
        with AbortWatcher(server.address, interval=6) as watcher:
            connected(watcher)
            server.client("--resume", "/r/t")  # aborts on try 1, is retried, runs try 2
            wait_until(lambda: task_state(server.port, "/r/t").get("try") == "2" and
                       task_state(server.port, "/r/t")["state"] == "active", timeout=30,
                       interval=0.1, what="try 2 running")
            event = watcher.wait_for_event(lambda e: e.path == "/r/t", timeout=20,
                                           include_history=True)
            time.sleep(6.5)  # another poll: nothing more
        assert isinstance(event, AbortEvent)
        assert event.try_no == 1 and event.reason == "first try fails fast"
        assert "marker-1" in event.output_tail and "marker-2" not in event.output_tail
        assert event.output_tail.strip() == job_output(server.home, "/r/t", 1).decode().strip()
        assert [e.try_no for e in watcher.events if e.path == "/r/t"] == [1]


ZOMBIE_AND_LATE = suite_head("z") + """  task z
    label l ""
  task late
    late -s +00:01
endsuite
"""
ZOMBIE_JOB = job("sleep 4\necflow_client --label=l from-the-old-job\n")
NEVER_STARTS = "#!/bin/bash\nsleep 600\n"  # never calls --init: stays submitted


@pytest.fixture
def zombie_and_late():
    files = {"z/z.ecf": ZOMBIE_JOB, "z/late.ecf": NEVER_STARTS}
    with DemoServer(definition=ZOMBIE_AND_LATE, files=files,
                    server_args=("--ecfinterval", "2")) as server:
        yield server


def zombies_now(port: int) -> list[str]:
    out = subprocess.run(["ecflow_client", "--port", str(port), "--zombie_get"],
                         capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]


def test_a_real_zombie_is_one_event_and_late_flags_one_each(zombie_and_late):
    server = zombie_and_late
    with AbortWatcher(server.address, ["/z"], interval=0.5, zombies=True) as watcher:
        connected(watcher)
        wait_until(lambda: task_state(server.port, "/z/z").get("state") == "active",
                   what="z running")
        server.client("--requeue=force", "/z/z")  # the running job becomes a zombie
        wait_until(lambda: "/z/z" in zombies_now(server.port), timeout=30, what="a zombie")
        zombie = watcher.wait_for_event(lambda e: isinstance(e, ZombieEvent), timeout=20)
        time.sleep(3)  # several more polls see the same zombie, older
        assert sum(isinstance(e, ZombieEvent) for e in watcher.events) == 1

        wait_until(lambda: "late" in task_state(server.port, "/z/late").get("flag", ""),
                   timeout=120, what="the server to flag /z/late late")
        late = watcher.wait_for_event(lambda e: isinstance(e, LateEvent), timeout=20,
                                      include_history=True)
        time.sleep(2)
        server.client("--requeue=force", "/z/late")  # clears the flag; it goes late again
        wait_until(lambda: "late" not in task_state(server.port, "/z/late").get("flag", ""),
                   timeout=20, what="the flag cleared")
        wait_until(lambda: "late" in task_state(server.port, "/z/late").get("flag", ""),
                   timeout=120, what="a second late flag")
        wait_until(lambda: sum(isinstance(e, LateEvent) for e in watcher.events) == 2,
                   timeout=20, what="the second late event")
        time.sleep(2)
    assert isinstance(zombie, ZombieEvent) and zombie.path == "/z/z"
    assert zombie.zombie_type == "user" and zombie.try_no == 1 and "requeue" in zombie.explanation
    assert isinstance(late, LateEvent) and late.path == "/z/late"
    assert "submitted" in late.why
    assert [e.path for e in watcher.events if isinstance(e, LateEvent)] == ["/z/late"] * 2


def test_cli_options_and_what_it_refuses_at_start(demo):
    missing = subprocess.run([*ECFNB, "watch", demo.address, "/no/such/path", "--once"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "/no/such/path" in missing.stderr
    assert "No such ecFlow node" in missing.stderr and "Traceback" not in missing.stderr
    from ecfnb import free_port

    dead_smtp = f"127.0.0.1:{free_port()}"
    mail = subprocess.run([*ECFNB, "watch", demo.address, "--mail-to", "a@b", "--smtp",
                           dead_smtp], capture_output=True, text=True, timeout=60)
    assert mail.returncode == 1 and f"cannot reach the SMTP server {dead_smtp}" in mail.stderr
    with Inbox() as inbox:
        ok = subprocess.Popen([*ECFNB, "watch", demo.address, "/demo/monitor",
                               "--include-existing", "--active-threshold", "1", "--zombies",
                               "--interval", "0.5", "--mail-to", "ops@example.org",
                               "--smtp", inbox.address], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: inbox.messages, timeout=30, what="the overdue mail")
        finally:
            ok.terminate()
            out, err = ok.communicate(timeout=30)
    assert "LATE /demo/monitor/progress" in out and "overdue: active for" in out
    assert "Traceback" not in err
    usage = subprocess.run([*ECFNB, "watch", demo.address, "--active-threshold", "0"],
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 1 and "--active-threshold must be a positive" in usage.stderr
