"""The server log read right on any day, in any month, in the server's zone: crafted lines
for every day and month (padded as ecFlow 5.13 writes them and not, as 5.9 does), a
year change at midnight, and real servers under another time zone and another date
(Debian's ``faketime``) — server log, timeline and incident chart together. Nothing
here depends on today's date or this machine's zone."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from ecfnb import DemoServer, LogClock, Server, incident, parse_log, timeline
from ecfnb._base.serverlog import estimate_offset, parse_line, parse_stamp

from helpers import job, suite_head, task_state, wait_until

UTC = timezone.utc


def line(when: datetime, text: str, padded: bool, kind: str = "LOG") -> bytes:
    date = f"{when:%d.%m.%Y}" if padded else f"{when.day}.{when.month}.{when.year}"
    return f"{kind}:[{when:%H:%M:%S} {date}]  {text}\n".encode()


def a_run(start: datetime, padded: bool, path: str = "/s/t") -> list[bytes]:
    return [line(start, f"submitted: {path} job_size:10", padded),
            line(start + timedelta(seconds=1), f"active: {path}", padded),
            line(start + timedelta(seconds=5), f"complete: {path}", padded)]


@pytest.mark.parametrize("padded", [False, True], ids=["5.9-unpadded", "5.13-padded"])
def test_every_day_of_every_month_is_read(padded):
    days = [datetime(2027, month, day, 9, 7, 3) for month in range(1, 13)
            for day in range(1, 32) if _valid(2027, month, day)]
    assert len(days) == 365
    raw = [piece for day in days for piece in a_run(day, padded)]
    runs = parse_log(raw)
    assert [run.submitted for run in runs] == [day.replace(tzinfo=UTC) for day in days]
    assert all(run.outcome == "complete" and run.end - run.submitted == timedelta(seconds=5)
               for run in runs)
    for day in (datetime(2027, 1, 1, 0, 0, 0), datetime(2027, 9, 9, 9, 9, 9),
                datetime(2027, 12, 31, 23, 59, 59)):
        text = line(day, "x", padded).decode()
        assert parse_line(text.encode()).local == day
        assert parse_stamp(text[5:text.index("]")]) == day


def _valid(year: int, month: int, day: int) -> bool:
    try:
        datetime(year, month, day)
    except ValueError:
        return False
    return True


def test_a_run_across_the_year_change_at_midnight():
    eve = datetime(2026, 12, 31, 23, 59, 58)
    raw = [line(eve, "submitted: /s/t job_size:1", padded=False),
           line(eve + timedelta(seconds=1), "active: /s/t", padded=False),
           line(datetime(2027, 1, 1, 0, 0, 1), "aborted: /s/t try-no: 1 reason: x",
                padded=False)]
    [run] = parse_log(raw)
    assert run.submitted == datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert run.end == datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (run.end - run.submitted).total_seconds() == 3 and run.outcome == "aborted"


def test_a_zone_turns_local_stamps_into_utc():
    tokyo = [line(datetime(2026, 12, 2, 3, 58, 51), "submitted: /s/t job_size:1", False),
             line(datetime(2026, 12, 2, 3, 59, 1), "complete: /s/t", False)]
    for zone in ("Asia/Tokyo", "+09:00", 9, timedelta(hours=9), LogClock.of("UTC+9")):
        [run] = parse_log(tokyo, zone)
        assert run.submitted == datetime(2026, 12, 1, 18, 58, 51, tzinfo=UTC), zone
    paris_summer = LogClock.of("Europe/Paris")  # a zone with summer time
    assert paris_summer.to_utc(datetime(2027, 7, 1, 12, 0)) == datetime(2027, 7, 1, 10, 0,
                                                                        tzinfo=UTC)
    assert paris_summer.to_utc(datetime(2027, 1, 1, 12, 0)) == datetime(2027, 1, 1, 11, 0,
                                                                        tzinfo=UTC)
    found = estimate_offset([(datetime(2026, 12, 2, 3, 58, 51),
                              datetime(2026, 12, 1, 18, 58, 50, tzinfo=UTC))])
    assert found == (timedelta(hours=9), 1)
    with pytest.raises(ValueError, match="bad server log zone"):
        LogClock.of("Mars/Olympus")


def test_a_server_in_another_zone(tmp_path):
    """The server runs under TZ=Asia/Kathmandu (UTC+05:45, an odd quarter): its log is
    in that zone, the nodes' times in UTC, and every surface agrees on UTC."""
    with DemoServer(env={"TZ": "Asia/Kathmandu"}) as server:
        srv = Server(server.host, server.port)
        srv.sync()
        clock = srv.log_clock()
        assert clock.offset == timedelta(hours=5, minutes=45), clock
        assert "detected from" in clock.source
        post = srv.node("/demo/forecast/post")
        runs = [r for r in timeline(srv, "/demo/forecast").runs if r.path == post.path]
        assert runs and abs(runs[-1].end - post.since) <= timedelta(seconds=1)
        record = incident(post.path, srv)
        assert record.timeline_png is not None, record.timeline_note
        aborted = [text for text in record.log_lines if "aborted: /demo/forecast/post" in text]
        assert aborted and aborted[-1].startswith(f"{post.since:%Y-%m-%d %H:%M}")
        assert "UTC+05:45" in record.log_clock
        given = Server(server.host, server.port, log_zone="Asia/Kathmandu")
        assert given.log_clock().describe().startswith("Asia/Kathmandu (given)")


needs_faketime = pytest.mark.skipif(shutil.which("faketime") is None,
                                    reason="Debian's faketime is not installed (make setup)")


@needs_faketime
def test_a_one_digit_day_on_a_real_server_log_timeline_and_incident_chart():
    # faketime's plain form: one clock for the server and every job it starts (with
    # "-f @...", each new process starts again at that instant).
    fake = ("faketime", "2027-03-05 08:00:00")
    with DemoServer(command_prefix=fake) as server:
        log = (server.home / f"{_log_name(server)}").read_text(errors="replace")
        assert "5.3.2027]" in log or "05.03.2027]" in log  # a one-digit day and month
        srv = Server(server.host, server.port)
        srv.sync()
        post = srv.node("/demo/forecast/post")
        assert post.since.date() == datetime(2027, 3, 5).date()
        runs = timeline(srv, "/demo").runs
        assert {r.path for r in runs} >= {"/demo/prepare/fetch_obs", post.path}
        assert all(r.start.date() == datetime(2027, 3, 5).date() for r in runs)
        record = incident(post.path, srv)
        assert record.timeline_png is not None and record.timeline_note == ""
        assert any("aborted: /demo/forecast/post" in text for text in record.log_lines)


def _log_name(server: DemoServer) -> str:
    return Server(server.host, server.port).variable("/", "ECF_LOG").rsplit("/", 1)[-1]


@needs_faketime
def test_a_run_across_new_year_on_a_real_server():
    definition = suite_head("ny") + "  task t\nendsuite\n"
    fake = ("faketime", "2026-12-31 23:59:54")
    # TZ=UTC: the new year at the server's midnight is the new year in UTC, whatever zone
    # the tests run under (a server in another zone: test_a_server_in_another_zone)
    with DemoServer(definition=definition, files={"ny/t.ecf": job("sleep 12\n")},
                    command_prefix=fake, env={"TZ": "UTC"}) as server:
        wait_until(lambda: task_state(server.port, "/ny/t").get("state") == "complete",
                   timeout=60, what="the job to finish in the new year")
        srv = Server(server.host, server.port)
        srv.sync()
        [run] = [r for r in timeline(srv, "/ny").runs if r.path == "/ny/t"]
        assert run.submitted.year == 2026 and run.end.year == 2027
        # The node's own time is its suite's calendar, which the server moves on at its
        # ticks (measured: 00:00:00 for a completion logged at 00:00:07): within a minute.
        since = srv.node("/ny/t").since
        assert since.year == 2027 and abs(run.end - since) <= timedelta(seconds=60)
        assert timedelta(seconds=10) <= run.end - run.submitted <= timedelta(seconds=20)
