"""The completion forecast on a real server whose log is in another zone, against what
the server then did (its log and ``ecflow_client --get_state``, read without ecfnb):
a repeating family under a limit, retries allowed, the suite's clock under faketime
(one-digit day and month, a year's end), and the replay of a logged run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

import ecfnb
from ecfnb import DemoServer, Server

from helpers import client, job, log_changes, suite_head, wait_until

ZONE = "Asia/Tokyo"
SUITE = suite_head("fc", tries=2) + """\
  limit lanes 1
  family run
    repeat integer CYCLE 1 2
    inlimit lanes
    task a
    task b
      trigger a == complete
    task c
      trigger a == complete
    task d
      trigger b == complete and c == complete
      late -c +00:30
  endfamily
  family tail
    trigger run == complete
    task e
  endfamily
endsuite
"""
FILES = {"fc/run/a.ecf": job("sleep 1"), "fc/run/b.ecf": job("sleep 2"),
         "fc/run/c.ecf": job("sleep 1"), "fc/run/d.ecf": job("sleep 1"),
         # e fails its first try each run; the server retries it (ECF_TRIES 2)
         "fc/tail/e.ecf": job("if [ %ECF_TRYNO% -eq 1 ]; then sleep 1; "
                              "ecflow_client --abort=first-try; exit 0; fi\nsleep 1")}
def state(port: int, path: str) -> str:
    return client(port, "--query", "state", path).stdout.decode().strip()


@dataclass
class Made:
    server: DemoServer
    forecast: ecfnb.Forecast
    on_time: ecfnb.Forecast
    late: ecfnb.Forecast
    asked: datetime
    answered: datetime
    log: list[tuple[datetime, str, str]]


@pytest.fixture(scope="module")
def made():
    """Two runs of /fc: the first one's log gives the durations; a forecast is made
    while the second is in its first cycle (task a running), then the run completes."""
    with DemoServer(definition=SUITE, files=FILES, env={"TZ": ZONE}) as srv:
        wait_until(lambda: state(srv.port, "/fc") == "complete", timeout=120,
                   what="the first run of /fc")
        time.sleep(1.1)  # the log stamps whole seconds: runs apart
        client(srv.port, "--requeue=force", "/fc")
        wait_until(lambda: state(srv.port, "/fc/run/a") == "active", timeout=60,
                   what="a active in the second run")
        server = Server("localhost", srv.port)
        asked = datetime.now(timezone.utc)
        found = ecfnb.forecast(server, "/fc")
        answered = datetime.now(timezone.utc)
        on_time = ecfnb.forecast(server, "/fc", deadline=asked + timedelta(hours=1))
        late = ecfnb.forecast(server, "/fc", deadline=asked)
        wait_until(lambda: state(srv.port, "/fc") == "complete", timeout=120,
                   what="the second run of /fc")
        yield Made(srv, found, on_time, late, asked, answered,
                   log_changes(srv.port, ZONE))


def test_the_range_holds_when_the_suite_completed(made):
    ends = [m for m, s, p in made.log if p == "/fc" and s == "complete"]
    actual = ends[-1]  # the second run's, from the log
    fc = made.forecast["/fc"]
    assert fc.earliest <= actual <= fc.latest, (fc, actual)
    assert abs(fc.expected - actual) < timedelta(seconds=6), (fc.expected, actual)
    # families too: /fc/run ends when the repeat's last cycle does
    run_end = [m for m, s, p in made.log if p == "/fc/run" and s == "complete"][-1]
    one = made.forecast["/fc/run"]
    assert one.earliest <= run_end <= one.latest, (one, run_end)


def test_durations_come_from_the_first_runs_cycles(made):
    """A repeat's cycles are runs of the same tasks; a retried task's length runs from
    its first try's submission (the try that failed is part of the wait)."""
    # the completions logged by the time the forecast read the log (a may end while
    # it is made: either count, and only those). The log stamps whole seconds: a line
    # stamped S was written during [S, S + 1 s), so before ``asked`` only if S + 1 s is.
    def done(path: str, by: datetime, written: timedelta = timedelta(0)) -> int:
        return sum(1 for m, s, p in made.log if s == "complete" and p == path and
                   m + written <= by)
    for name in "abcd":
        path = f"/fc/run/{name}"
        estimate = made.forecast[path].estimate
        assert done(path, made.asked, timedelta(seconds=1)) <= estimate.runs <= done(
            path, made.answered + timedelta(seconds=1)), (name, estimate)
        assert estimate.source == str(estimate.runs)
    run_b, run_c = made.forecast["/fc/run/b"].estimate, made.forecast["/fc/run/c"].estimate
    assert run_b.typical > run_c.typical
    e = made.forecast["/fc/tail/e"].estimate
    tries = [(m, s) for m, s, p in made.log if p == "/fc/tail/e" and m <= made.asked]
    first = next(m for m, s in tries if s == "submitted")
    done = next(m for m, s in tries if s == "complete")
    assert [s for m, s in tries].count("aborted") == 1 and e.runs == 1
    assert e.typical == done - first  # both tries


def test_the_critical_path_goes_through_the_limit(made):
    # b and c share a one-token limit: c runs after b, d after both, then e
    assert made.forecast.critical_path == ("/fc/run/a", "/fc/run/b", "/fc/run/c",
                                           "/fc/run/d", "/fc/tail/e")


def test_deadlines_and_late_attributes(made):
    assert made.on_time.verdict == "on time" and made.on_time.node.deadline_from == \
        "the operator's deadline"
    assert made.late.verdict == "late"
    d = made.forecast["/fc/run/d"]
    assert d.deadline_from == "late -c +00:30" and d.verdict == "on time"
    assert d.deadline - d.start == timedelta(minutes=30)
    assert made.forecast.at_risk() == [] and [n.path for n in made.late.at_risk()] == ["/fc"]
    assert "completes" in made.forecast.summary() and "ecfnb-critical" in \
        made.forecast._repr_html_()


def test_the_replay_scores_against_the_log(made):
    server = Server("localhost", made.server.port)
    completes = [m for m, s, p in made.log if p == "/fc" and s == "complete"]
    second = next(m for m, s, p in made.log if p == "/fc" and s == "queued"
                  and m > completes[0])  # the requeue
    starts = [m for m, s, p in made.log if s == "active" and p.startswith("/fc/run/")
              and m > second]
    instants = starts[:: max(1, len(starts) // 4)]
    found = ecfnb.replay(server, "/fc", instants)
    assert len(found.points) == len(instants) >= 3
    first_run = (min(m for m, s, p in made.log if p.startswith("/fc/") and s == "submitted"),
                 completes[0])
    for point, instant in zip(found.points, instants, strict=True):
        actual = next(m for m in completes if m > instant)
        assert point.actual == actual
        assert point.error == abs(point.expected - actual)
        # the naive forecast: this run's start plus the first run's length
        began = min(m for m, s, p in made.log if p == "/fc" and s in ("submitted", "active")
                    and second <= m <= instant)
        assert point.naive == began + (first_run[1] - first_run[0]), point
    assert found.median_error is not None and found.median_error < timedelta(seconds=6)
    assert found.naive_median_error is not None
    assert "last-duration forecast" in repr(found)


CLOCK_SUITE = suite_head("clk") + """\
  family h
    task t
      time TIME
    task u
      today 12:00
    task n
      late -c 09:00
  endfamily
endsuite
"""


def suite_time(port: int) -> datetime:
    """The suite's calendar now, as ``ecflow_client --get_state`` prints it."""
    text = client(port, "--get_state", "/clk").stdout.decode()
    found = re.search(r"suiteTime:(\d{4}-\w{3}-\d{2} \d\d:\d\d:\d\d)", text)
    return datetime.strptime(found.group(1), "%Y-%b-%d %H:%M:%S").replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("tokyo,utc,slot,held_by_today", [
    # 08:00 UTC, 17:00 in the server's zone: 'today 12:00' holds, though passed there
    ("2027-03-05 17:00:00", "2027-03-05 08:00", "08:30", True),
    # 23:50 UTC on the year's last day, already 08:50 next year in the server's zone:
    # 'time 00:10' is next year's first slot, 'today 12:00' has passed (runs at once)
    ("2027-01-01 08:50:00", "2026-12-31 23:50", "00:10", False),
])
def test_time_attributes_read_the_suites_clock(tokyo, utc, slot, held_by_today):
    """A suite's time attributes and ``late`` run on its calendar, which is UTC (not
    the zone of the server's log); faketime's instant is read in the zone it runs in."""
    files = {f"clk/h/{n}.ecf": job("true") for n in "tun"}
    with DemoServer(definition=CLOCK_SUITE.replace("TIME", slot), files=files,
                    env={"TZ": ZONE}, command_prefix=("faketime", "-f", f"@{tokyo}")) as srv:
        server = Server("localhost", srv.port)
        now = suite_time(srv.port)
        assert f"{now:%Y-%m-%d %H:%M}" == utc
        fc = ecfnb.forecast(server, "/clk")
        hour, minute = map(int, slot.split(":"))
        due = now.replace(hour=hour, minute=minute, second=0)
        if due <= now:
            due += timedelta(days=1)
        assert fc["/clk/h/t"].start == due, (fc["/clk/h/t"], due)
        n = fc["/clk/h/n"]
        deadline = now.replace(hour=9, minute=0, second=0)
        if deadline < now:
            deadline += timedelta(days=1)
        assert n.deadline == deadline and n.deadline_from == "late -c 09:00"
        # the action preview reads the same clock: what it says a requeue submits is
        # what the server then did
        found = server.preview("requeue", "/clk/h")
        client(srv.port, "--requeue=force", "/clk/h")
        time.sleep(1.5)
        went = state(srv.port, "/clk/h/u") in ("submitted", "active", "complete")
        assert went is not held_by_today
        assert ("/clk/h/u" in found.submitted) is went, found


def test_bad_input_says_what_to_do(demo):
    server = Server(demo.host, demo.port)
    with pytest.raises(ValueError, match="forecast a suite"):
        ecfnb.forecast(server, "/")
    with pytest.raises(ecfnb.NodeNotFound):
        ecfnb.forecast(server, "/demo/nowhere")
    with pytest.raises(ValueError, match="bad instant"):
        ecfnb.forecast(server, "/demo", deadline="tonight")
    found = ecfnb.forecast(server, "/demo")
    assert found.expected is None and "/demo/forecast/post is aborted" in found.node.why
    rerun = ecfnb.forecast(server, "/demo/forecast", assume_rerun=True)
    assert rerun.expected is not None and rerun.critical_path[-1] == "/demo/forecast/report"
    # the command line and the magic say the same, and refuse what they cannot read
    cli = subprocess.run([sys.executable, "-m", "ecfnb", "forecast", demo.address,
                          "/demo/forecast", "--rerun", "--deadline", "23:59"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "/demo/forecast completes" in cli.stdout, cli
    assert "critical path: " in cli.stdout and "/demo/forecast/report" in cli.stdout
    bad = subprocess.run([sys.executable, "-m", "ecfnb", "forecast", demo.address, "/demo",
                          "--deadline", "25:00"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "bad deadline" in bad.stderr and "Traceback" not in \
        bad.stderr
    from ecfnb._frontends.magics import ecf_forecast

    magic = ecf_forecast(f"{demo.address} /demo/forecast --rerun --deadline '2099-01-01 00:00'")
    assert magic.verdict == "on time" and magic.node.deadline_from == "the operator's deadline"
    with pytest.raises(ecfnb.EcfnbError, match="usage: %ecf_forecast"):
        ecf_forecast("--rerun")


WATCH_SUITE = suite_head("wf") + """\
  family f
    task a
    task b
      trigger a == complete
    task c
      trigger b == complete
  endfamily
endsuite
"""


def test_the_watcher_alerts_when_the_forecast_crosses_a_deadline():
    """A deadline the run cannot meet is reported while the run goes on — the server
    flags nothing — and the run then did end after it; a far deadline is not."""
    files = {f"wf/f/{n}.ecf": job("sleep 2") for n in "abc"}
    with DemoServer(definition=WATCH_SUITE, files=files, env={"TZ": ZONE}) as srv:
        wait_until(lambda: state(srv.port, "/wf") == "complete", timeout=60, what="a run")
        time.sleep(1.1)
        client(srv.port, "--requeue=force", "/wf")
        wait_until(lambda: state(srv.port, "/wf/f/a") == "active", timeout=30, what="a active")
        tight = datetime.now(timezone.utc) + timedelta(seconds=3)
        far = datetime.now(timezone.utc) + timedelta(hours=2)
        seen: list = []
        with ecfnb.AbortWatcher(srv.address, interval=0.5, on_event=seen.append,
                                deadlines={"/wf": tight, "/wf/f": far},
                                forecast_every=0.5):
            event = wait_until(lambda: next((e for e in seen if e.kind == "forecast"), None),
                               timeout=30, what="a forecast event")
            assert state(srv.port, "/wf") != "complete"  # told before the end
            assert "late" not in client(srv.port, "--get_state", "/wf").stdout.decode()
            wait_until(lambda: state(srv.port, "/wf") == "complete", timeout=60, what="the end")
            time.sleep(1.5)
        assert event.path == "/wf" and event.verdict in ("late", "at risk")
        assert datetime.fromisoformat(event.deadline) == tight
        end = [m for m, s, p in log_changes(srv.port, ZONE) if p == "/wf" and s == "complete"][-1]
        assert end > tight  # the forecast was right: the run ended after the deadline
        assert [e.path for e in seen if e.kind == "forecast"] == ["/wf"]  # once; not /wf/f
        assert "FORECAST /wf" in event.text()
        assert "forecast" in ecfnb.event_message(event, ["op@example.org"], "x@y")["Subject"]
        # the CLI: one poll with a deadline already passed
        proc = subprocess.run([sys.executable, "-m", "ecfnb", "watch", srv.address, "--once",
                               "--deadline", "/wf=2000-01-01 00:00"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and "FORECAST /wf" in proc.stdout, proc
        bad = subprocess.run([sys.executable, "-m", "ecfnb", "watch", srv.address, "--once",
                              "--deadline", "/wf"], capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "PATH=WHEN" in bad.stderr
    with pytest.raises(ValueError, match="deadline for /x"):
        ecfnb.AbortWatcher("localhost:3141", deadlines={"/x": "25:00"})


CYCLE_SUITE = suite_head("cy", tries=2) + """\
  family r
    repeat integer STEP 1 2
    task a
    task b
      trigger a == complete
    task c
  endfamily
endsuite
"""


def test_this_cycle_against_the_previous_one():
    """A repeat whose task a takes twice as long in its second step: a ran longer and b,
    after it, started later; c, alone, neither — each figure as the log shows it."""
    files = {"cy/r/a.ecf": job("sleep $((%STEP% * 2))"), "cy/r/b.ecf": job("sleep 1"),
             "cy/r/c.ecf": job("sleep 1")}
    with DemoServer(definition=CYCLE_SUITE, files=files, env={"TZ": ZONE}) as srv:
        wait_until(lambda: state(srv.port, "/cy") == "complete", timeout=60, what="two steps")
        found = ecfnb.compare_cycles(Server("localhost", srv.port), "/cy/r", tolerance=1.0)
        log = log_changes(srv.port, ZONE)
    assert found.cycles == 2
    assert found.ran_longer == ("/cy/r/a",) and found.started_later == ("/cy/r/b",)
    # the cycles as the log shows them: first submission to completion of /cy/r
    ends = [m for m, s, p in log if p == "/cy/r" and s == "complete"]
    starts = [min(m for m, s, p in log if p == "/cy/r" and s == "submitted" and m > after)
              for after in [datetime.min.replace(tzinfo=timezone.utc), ends[0]]]
    assert (found.previous.start, found.previous.end) == (starts[0], ends[0])
    assert (found.current.start, found.current.end) == (starts[1], ends[1])
    for name in "abc":
        path = f"/cy/r/{name}"
        sub = [m for m, s, p in log if p == path and s == "submitted"]
        done = [m for m, s, p in log if p == path and s == "complete"]
        task = found[path]
        assert task.offset_before == sub[0] - starts[0] and task.offset == sub[1] - starts[1]
        assert task.duration_before == done[0] - sub[0] and task.duration == done[1] - sub[1]
    assert "started later" in repr(found) and "ecfnb-worse" in found._repr_html_()


def test_a_big_suite_is_forecast_within_its_budget():
    """2,000 tasks under a 20-slot limit, with triggers, families and long repeats (the
    generated suite), every task with three logged runs: the forecast finishes inside
    its budget (the server's pass over every queued task at every job's end took over
    two minutes for 1,000), every task gets an end or a reason, and a repeat with more
    steps than the forecast runs says so."""
    import random

    from ecfnb._map.forecast import project
    from ecfnb._map.timeline import Run

    with DemoServer(tasks=2000) as srv:
        srv.client("--requeue=force", "/gen00")
        server = Server("localhost", srv.port)
        server.sync()
        plan = server.plan(["gen00"], 30)
    tasks = [p for p, n in plan.nodes.items() if n.kind == "task"]
    assert len(tasks) >= 1000 and any(n.inlimits for n in plan.nodes.values())
    now = datetime.now(timezone.utc)
    rng = random.Random(3)
    runs = [Run(p, 1, now - timedelta(days=k + 1), now - timedelta(days=k + 1),
                now - timedelta(days=k + 1) + timedelta(seconds=rng.uniform(5, 120)),
                "complete") for p in tasks for k in range(3)]
    found = project(plan, "/gen00", now, runs, seconds=20)
    assert found.complete, found.notes
    for path in tasks:
        node = found[path]
        assert node.expected is not None or node.why, node
    long = [n for n in found.nodes.values() if "steps to go" in n.why]
    assert long == [] or all("more than the forecast runs" in n.why for n in long)
