"""Task runs from real server logs (demo server running real jobs), and their chart."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

import ecfnb._map.timeline as timeline_module
from ecfnb import STATE_COLOURS, Run, Server, Timeline, parse_log, timeline

from conftest import wait_for

UTC = timezone.utc
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def log_line(hms: str, text: str, kind: str = "LOG") -> bytes:
    """A line as ecflow_server writes it (two spaces before a state)."""
    return f"{kind}:[{hms} 27.11.2026]  {text}\n".encode()


def at(hms: str) -> datetime:
    hour, minute, second = (int(part) for part in hms.split(":"))
    return datetime(2026, 11, 27, hour, minute, second, tzinfo=UTC)


def runs_of(runs: list[Run], path: str) -> list[Run]:
    return [run for run in runs if run.path == path]


def rgb(state: str) -> tuple[float, float, float, float]:
    red, green, blue = (int(part) / 255 for part in STATE_COLOURS[state][4:-1].split(","))
    return red, green, blue, 1.0


def bars(ax) -> list:
    """The bars of a chart (the highlight band is a patch too, but no bar)."""
    return [bar for container in ax.containers for bar in container]


def connected(demo) -> Server:
    server = Server(demo.host, demo.port)
    server.sync()
    return server


# -- a real server's log -----------------------------------------------------------------

def test_demo_log_has_complete_aborted_and_running_runs_and_no_family_runs(demo):
    server = connected(demo)
    found = timeline(server)
    assert found.source == server.node("/").variable("ECF_LOG")  # read from disk
    fetch = runs_of(found.runs, "/demo/prepare/fetch_obs")
    assert [(r.outcome, r.try_no, r.reason) for r in fetch] == [("complete", 1, "")]
    assert fetch[0].submitted <= fetch[0].active <= fetch[0].end
    assert fetch[0].submitted.tzinfo is UTC
    post = runs_of(found.runs, "/demo/forecast/post")
    assert [(r.outcome, r.try_no, r.reason) for r in post] == [("aborted", 1, "exit 1")]
    progress = runs_of(found.runs, "/demo/monitor/progress")
    assert [(r.outcome, r.state, r.end) for r in progress] == [("running", "active", None)]
    paths = {run.path for run in found.runs}
    assert not paths & {"/", "/demo", "/demo/prepare", "/demo/forecast", "/demo/cycle"}
    assert len(runs_of(found.runs, "/demo/cycle/step")) == 3  # repeat STEP 1..3: 3 runs
    now = datetime.now(UTC)
    assert all(now - timedelta(days=1) < run.start <= now for run in found.runs)


def test_requeue_starts_again_at_try_1_automatic_retries_count_up(fresh_demo):
    server = connected(fresh_demo)
    post = "/demo/forecast/post"

    def aborted_runs() -> list[Run]:
        return [r for r in runs_of(timeline(server, post).runs, post) if r.outcome == "aborted"]

    for expected in (2, 3):  # the demo's abort, then two requeues by hand
        fresh_demo.client("--requeue", post)
        wait_for(lambda n=expected: len(aborted_runs()) == n, timeout=60,
                 what=f"{post} to abort {expected} times")
    assert [run.try_no for run in aborted_runs()] == [1, 1, 1]
    # Raising ECF_TRIES makes the server retry the aborted task at once: tries 2 and 3
    # with no 'queued' between them; a requeue then starts again at 1.
    fresh_demo.client("--alter=add", "variable", "ECF_TRIES", "3", post)
    wait_for(lambda: len(aborted_runs()) == 5, timeout=60, what="two automatic retries")
    fresh_demo.client("--requeue", post)
    wait_for(lambda: len(aborted_runs()) == 8, timeout=60, what="three more tries")
    runs = aborted_runs()
    assert [run.try_no for run in runs] == [1, 1, 1, 2, 3, 1, 2, 3]
    assert all(run.reason == "exit 1" and run.submitted and run.active for run in runs)
    assert all(a.end <= b.submitted for a, b in zip(runs, runs[1:], strict=False))


def test_non_utf8_bytes_in_a_real_log_and_its_abort_reason(fresh_demo, monkeypatch):
    fresh_demo.client("--msg=" + os.fsdecode(b"bad \xff\xfe bytes"))
    script = fresh_demo.home / "scripts" / "fetch_obs.ecf"
    failing = b"trap - 0\necflow_client --abort=\"$(printf 'caf\\xe9 \\xff')\"\nexit 0\n"
    script.write_bytes(script.read_bytes().replace(b'echo "fetching', failing, 1))
    fresh_demo.client("--requeue", "/demo/prepare/fetch_obs")
    server = connected(fresh_demo)
    log = server.node("/").variable("ECF_LOG")

    def fetch_runs() -> list[Run]:
        return runs_of(timeline(server, "/demo/prepare").runs, "/demo/prepare/fetch_obs")

    wait_for(lambda: [r.outcome for r in fetch_runs()] == ["complete", "aborted"], timeout=30,
             what="fetch_obs to abort")
    assert b"\xff\xfe" in open(log, "rb").read()
    assert [(r.outcome, r.reason) for r in fetch_runs()] == [
        ("complete", ""), ("aborted", "caf\ufffd \ufffd")]
    # The same through the server (--log=get), as when ECF_LOG is not readable here.
    real_access = os.access
    monkeypatch.setattr(timeline_module.os, "access",
                        lambda path, mode: path != log and real_access(path, mode))
    through_server = timeline(server, "/demo/prepare", max_lines=5000)
    assert through_server.source == f"{server.address} (last 5000 log lines)"
    assert [r.reason for r in runs_of(through_server.runs, "/demo/prepare/fetch_obs")] == [
        "", "caf\ufffd \ufffd"]


# -- parsing, from lines as the server writes them ------------------------------------------

BAD_LINES = [
    log_line("10:00:00", "submitted: /s/f/t job_size:356"),
    log_line("10:00:00", "submitted: /s/f"),
    b"MSG:[10:00:01 27.11.2026] --msg=caf\xe9 \xff\xfe :root@vm\n",
    log_line("10:00:01", "active: /s/f/t"),
    log_line("10:00:01", "active: /s/f"),
    b"LOG:[10:00:05 27.11.2026]  aborted: /s/f/t try-no: 1 reason: \xff\xfe broken\n",
    log_line("10:00:05", "aborted: /s/f"),
    b"\xff\xfe\x00 garbage without a prefix\n",
    b"LOG:[10:00:06 27.11.2026]  submitted: /s/caf\xe9 job_size:10\n",
    b"LOG:[10:61:06 27.11.2026]  submitted: /s/damaged job_size:10\n",
]


def test_non_utf8_lines_are_parsed_with_replacement_characters(tmp_path):
    runs = parse_log(BAD_LINES)
    assert [(r.path, r.outcome, r.try_no, r.reason) for r in runs] == [
        ("/s/f/t", "aborted", 1, "\ufffd\ufffd broken"), ("/s/caf\ufffd", "running", 1, "")]
    assert (runs[0].submitted, runs[0].active, runs[0].end) == (
        at("10:00:00"), at("10:00:01"), at("10:00:05"))
    log = tmp_path / "host.3141.ecf.log"
    log.write_bytes(b"".join(BAD_LINES))
    from_file = timeline(None, log_file=log)
    assert from_file.runs == runs and from_file.source == str(log)


def test_retries_requeues_partial_and_failed_submissions():
    lines = [
        log_line("09:59:00", "complete: /s/early"),  # began before the log: no run
        log_line("09:59:30", "active: /s/long"),  # submitted before the log: a leaf, kept
        log_line("09:59:30", "active: /s"),  # its suite: dropped
        log_line("10:00:00", "submitted: /s/t job_size:1"),
        log_line("10:00:01", "aborted: /s/t try-no: 1 reason: trap"),
        log_line("10:00:02", "submitted: /s/t job_size:1"),  # ECF_TRIES retry
        log_line("10:00:03", "active: /s/t"),
        log_line("10:00:04", "aborted: /s/t try-no: 2 reason: exit 3 at line 7"),
        log_line("10:00:05", "queued: /s/t"),  # --requeue
        log_line("10:00:06", "submitted: /s/t job_size:1"),
        log_line("10:00:07", "queued: /s/t"),  # requeued while submitted
        log_line("10:00:08", "aborted: /s/gen try-no: 1 reason:    Script for /s/gen cannot"),
        log_line("10:00:08", "   Variable ECF_FETCH not defined:"),
        log_line("10:00:09", "submitted: /s/t job_size:1"),
        log_line("10:00:10", "submitted: /s/t"),  # --force=submitted of a known task
        log_line("10:00:11", "complete: /s/long"),
    ]
    runs = parse_log(lines)
    summary = [(r.path, r.try_no, r.submitted, r.end, r.outcome, r.reason) for r in runs]
    assert summary == [
        ("/s/long", 0, None, at("10:00:11"), "complete", ""),
        ("/s/t", 1, at("10:00:00"), at("10:00:01"), "aborted", "trap"),
        ("/s/t", 2, at("10:00:02"), at("10:00:04"), "aborted", "exit 3 at line 7"),
        ("/s/t", 1, at("10:00:06"), at("10:00:07"), "queued", ""),
        ("/s/gen", 1, None, at("10:00:08"), "aborted", "Script for /s/gen cannot"),
        ("/s/t", 1, at("10:00:09"), at("10:00:10"), "resubmitted", ""),
        ("/s/t", 1, at("10:00:10"), None, "running", ""),
    ]
    assert runs[0].active == at("09:59:30") and runs[0].start == at("09:59:30")
    assert runs[-1].state == "submitted"


def test_a_last_line_still_being_written_is_not_read(tmp_path):
    log = tmp_path / "ecf.log"
    log.write_bytes(log_line("10:00:00", "submitted: /s/task job_size:1")
                    + b"LOG:[10:00:01 27.11.2026]  complete: /s/ta")
    assert [(r.path, r.outcome) for r in timeline(None, log_file=log).runs] == [
        ("/s/task", "running")]


# -- selecting, table, chart -------------------------------------------------------------

def synthetic_log(tmp_path, tasks: int = 3) -> os.PathLike:
    """Task i of family f runs from minute i to minute i+1; post aborts, one runs."""
    lines = []
    for i in range(tasks):
        start, end = (f"{10 + m // 60}:{m % 60:02d}:00" for m in (i, i + 1))
        lines += [log_line(start, f"submitted: /s/f/t{i} job_size:9"),
                  log_line(start, f"active: /s/f/t{i}"), log_line(end, f"complete: /s/f/t{i}")]
        lines += [log_line(start, f"--news=0 {i} :op [:NO_NEWS]", kind="MSG")] * 5
    lines += [log_line("10:00:30", "submitted: /s/g/post job_size:9"),
              log_line("10:00:40", "active: /s/g/post"),
              log_line("10:01:10", "aborted: /s/g/post try-no: 1 reason: exit 1"),
              log_line("10:01:30", "submitted: /s/g/postprocess job_size:9")]
    log = tmp_path / "synthetic.ecf.log"
    log.write_bytes(b"".join(lines))
    return log


def test_since_until_keep_runs_overlapping_the_period(tmp_path):
    log = synthetic_log(tmp_path)

    def paths(**period) -> list[str]:
        return [run.path for run in timeline(None, log_file=log, **period).runs]

    assert paths() == ["/s/f/t0", "/s/g/post", "/s/f/t1", "/s/g/postprocess", "/s/f/t2"]
    assert paths(until=at("10:00:45")) == ["/s/f/t0", "/s/g/post"]
    assert paths(since=at("10:01:20")) == ["/s/f/t1", "/s/g/postprocess", "/s/f/t2"]
    naive = datetime(2026, 11, 27, 10, 1, 40)  # naive datetimes are UTC
    assert paths(since=naive, until=naive) == ["/s/f/t1", "/s/g/postprocess"]
    assert paths(since=at("11:00:00")) == ["/s/g/postprocess"]  # still running


def test_path_selects_a_subtree_on_name_boundaries(tmp_path):
    log = synthetic_log(tmp_path)
    assert [r.path for r in timeline(None, "/s/f/", log_file=log).runs] == [
        "/s/f/t0", "/s/f/t1", "/s/f/t2"]
    post = timeline(None, "s/g/post", log_file=log)
    assert [r.path for r in post.runs] == ["/s/g/post"]  # not /s/g/postprocess
    assert post.label("/s/g/post") == "post"
    assert timeline(None, "/s", log_file=log).label("/s/g/post") == "g/post"
    assert timeline(None, log_file=log).label("/s/g/post") == "s/g/post"
    with pytest.raises(ValueError, match="needs a server or a log_file"):
        timeline(None)


def test_table_is_a_dataframe_or_the_runs(tmp_path):
    found = timeline(None, "/s/g", log_file=synthetic_log(tmp_path))
    try:
        import pandas  # noqa: F401
    except ImportError:
        assert found.table() == found.runs
        return
    table = found.table()
    assert list(table["outcome"]) == ["aborted", "running"]
    assert list(table["reason"]) == ["exit 1", ""]


def test_figure_draws_a_row_per_task_with_state_colours(tmp_path):
    found = timeline(None, "/s", log_file=synthetic_log(tmp_path))
    fig = found.figure(highlight="g/post", now=at("10:05:00"))
    ax = fig.axes[0]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == ["f/t0", "g/post", "f/t1", "g/postprocess", "f/t2"]
    bold = [label.get_text() for label in ax.get_yticklabels() if label.get_fontweight() == "bold"]
    assert bold == ["g/post"]
    colours = [tuple(bar.get_facecolor()) for bar in bars(ax)]
    # 3 complete (each with a zero-length submitted part), post submitted+aborted, 1 submitted
    assert len(colours) == 3 * 2 + 2 + 1
    assert colours.count(rgb("complete")) == 3 and colours.count(rgb("aborted")) == 1
    aborted = next(p for p in bars(ax) if tuple(p.get_facecolor()) == rgb("aborted"))
    assert round(aborted.get_y() + aborted.get_height() / 2) == labels.index("g/post")
    running = [p for p in bars(ax) if tuple(p.get_facecolor()) == rgb("submitted")
               and round(p.get_y() + 0.3) == labels.index("g/postprocess")]
    assert len(running) == 1  # drawn up to now
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())  # the now line
    png = found.png(now=at("10:05:00"))
    assert png.startswith(PNG_SIGNATURE) and found._repr_png_().startswith(PNG_SIGNATURE)


def test_figure_of_many_tasks_shows_the_most_recent_and_says_so(tmp_path):
    found = timeline(None, log_file=synthetic_log(tmp_path, tasks=59))
    fig = found.figure(now=at("11:00:00"), highlight="/s/f/t0")
    ax = fig.axes[0]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert len(labels) == 60 and "s/f/t0" in labels and "s/g/post" not in labels
    assert "the 60 most recently active shown" in ax.get_title(loc="left")
    assert fig.get_size_inches()[1] > 10  # about a fifth of an inch a row
    empty = Timeline([], "/x").figure()
    assert "no task runs" in empty.axes[0].texts[0].get_text()


def test_real_server_chart(demo):
    found = timeline(connected(demo), "/demo")
    ax = found.figure(highlight="/demo/forecast/post").axes[0]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert "forecast/post" in labels and "prepare/fetch_obs" in labels
    colours = [tuple(bar.get_facecolor()) for bar in bars(ax)]
    assert rgb("aborted") in colours and rgb("active") in colours  # post, progress
    assert found.png().startswith(PNG_SIGNATURE)
