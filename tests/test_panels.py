"""The operator's views (issue 15) in the kernel, against real servers: Triggers, Log,
Zombies, Timeline, Table, Search, every try's output, job status and the tree's marks.

Every figure is checked against what ``ecflow_client`` says (``--get_state``,
``--zombie_get``, ``--log=get``) or the files on disk, read here without ecfnb's code.
The browser side of the same views is tests/test_browser_panels.py.
"""

from __future__ import annotations

import fnmatch
import html
import os
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ecfnb import DemoServer, FileSystemMap, SearchQuery, Server, explore
from ecfnb._map import logs, table, triggers
from ecfnb._map.timeline import timeline
from ecfnb.widgets import views_html

from conftest import get_state, make_read_only
from helpers import JOB_HEAD, client, job, job_output, suite_head, task_state, wait_until

# -- a suite of real triggers ---------------------------------------------------------------
DEPENDANTS = 40
TRIGGERS = ("extern /other/x\n" + suite_head("a") + """  family f
    trigger /b/gate == complete
    task t1
      event ready
    task t2
      trigger t1 == complete and t1:ready
  endfamily
  task t3
    trigger f/t2 == complete or /other/x == complete
    complete /b/u:m ge 5
  task hub
    defstatus suspended
  family many
""" + "".join(f"    task d{i:02d}\n      trigger ../hub == complete\n"
              for i in range(DEPENDANTS)) + """  endfamily
endsuite
suite b
  edit ECF_HOME '{home}'
  task gate
    defstatus suspended
  task u
    meter m 0 10
endsuite
""")


@pytest.fixture(scope="module")
def wired():
    tasks = ["a/f/t1", "a/f/t2", "a/t3", "a/hub", "b/gate", "b/u"] + [
        f"a/many/d{i:02d}" for i in range(DEPENDANTS)]
    with DemoServer(definition=TRIGGERS, files={f"{t}.ecf": job("") for t in tasks}) as s:
        wait_until(lambda: task_state(s.port, "/b/u").get("state") == "complete",
                   what="/b/u to complete")
        yield s


def states(port: int) -> dict[str, str]:
    return {path: state for path, (_kind, state) in get_state(port).items()}


def test_triggers_name_what_a_node_waits_on_with_the_servers_states(wired):
    server = Server(wired.host, wired.port)
    server.sync()
    now = states(wired.port)
    view = triggers.triggers(server, "/a/f/t2")
    # Its own trigger, then its family's, which holds it back (gate is suspended).
    assert [(e.path, e.kind, e.text) for e in view.expressions] == [
        ("/a/f/t2", "trigger", "t1 == complete and t1:ready"),
        ("/a/f", "trigger", "/b/gate == complete")]
    assert [e.holds for e in view.expressions] == [now["/a/f/t1"] == "complete",
                                                   now["/b/gate"] == "complete"]
    assert view.holding == view.expressions  # nothing of it holds: both hold it back
    refs = {(r.path, r.attribute): r for r in view.waits_on}
    assert set(refs) == {("/a/f/t1", ""), ("/a/f/t1", "ready"), ("/b/gate", "")}
    assert refs[("/a/f/t1", "")].state == now["/a/f/t1"]
    assert refs[("/b/gate", "")].state == now["/b/gate"] == "suspended"
    assert refs[("/b/gate", "")].scope == "cross-suite"
    assert refs[("/a/f/t1", "")].holds is False and refs[("/a/f/t1", "ready")].holds is None

    t3 = {r.path: r for r in triggers.triggers(server, "/a/t3").waits_on}
    assert t3["/other/x"].scope == "extern" and t3["/other/x"].state == "missing"
    assert t3["/b/u"].scope == "cross-suite" and t3["/b/u"].attribute == "m"
    assert t3["/b/u"].state == now["/b/u"] == "complete"

    # What waits on a node or on a node below it: t1 is named by t2; the family f by t3
    # (through f/t2); /b/u by t3's complete expression.
    assert {r.owner for r in triggers.triggers(server, "/a/f/t1").waited_by} == {"/a/f/t2"}
    assert {r.owner for r in triggers.triggers(server, "/a/f").waited_by} == {"/a/t3"}
    assert [(r.owner, r.kind) for r in triggers.triggers(server, "/b/u").waited_by] == [
        ("/a/t3", "complete")]
    waited = triggers.triggers(server, "/b/gate").waited_by
    assert [(r.owner, r.state) for r in waited] == [("/a/f", now["/a/f"])]


def test_a_node_with_many_dependants_stays_bounded(wired):
    server = Server(wired.host, wired.port)
    server.sync()
    view = triggers.triggers(server, "/a/hub", limit=10)
    assert view.waited_by_total == DEPENDANTS and len(view.waited_by) == 10
    assert {r.owner for r in view.waited_by} <= {f"/a/many/d{i:02d}" for i in range(40)}
    picture = triggers.neighbourhood(server, "/a/hub", depth=2, per_side=25)
    assert picture.columns[picture.centre_column] == (("/a/hub", "suspended"),)
    dependants = picture.columns[picture.centre_column + 1]
    assert len(dependants) == 25 and picture.more[picture.centre_column + 1] == 15
    now = states(wired.port)
    assert all(state == now[path] for path, state in dependants)
    assert all(edge[0] == "/a/hub" and edge[2] is False for edge in picture.edges
               if edge[1].startswith("/a/many/"))
    svg = views_html.neighbourhood_svg(picture)
    assert svg.count('class="ecfnb-box"') == 26 and "… 15 more" in svg
    html_text = views_html.triggers_html(view, picture)
    assert "Waited on by (40)" in html_text and "… and 30 more" in html_text
    with pytest.raises(ValueError, match="1 or 2"):
        triggers.neighbourhood(server, "/a/hub", depth=3)


def test_a_link_in_a_view_selects_that_node(wired):
    explorer = explore(wired.address, path="/a/t3", interval=60)
    try:
        panel = explorer.panel
        wait_until(lambda: panel.info is not None and panel.info.path == "/a/t3",
                   what="/a/t3 in the panel")
        panel.tabs.selected_index = panel.tab_names.index("Triggers")
        page = panel.views["Triggers"].view
        assert 'data-ecfnb-arg="/a/f/t2"' in page.value
        assert "/other/x" in page.value and "extern: not on this server" in page.value
        page.click("select", "/b/u")  # what a click on the link sends
        wait_until(lambda: panel.info is not None and panel.info.path == "/b/u",
                   what="/b/u selected")
        assert explorer.tree.views[0].nodes["/b/u"].selected
        page.click("select", "/other/x")  # an extern: said, not a traceback
        assert "cannot show /other/x" in html.unescape(panel.message.value)
    finally:
        explorer.close()


# -- the log ---------------------------------------------------------------------------------
def test_pages_read_backwards_are_the_files_lines(tmp_path):
    """Random files (no final newline, empty lines, tiny blocks, a filter, a scan
    limit): the pages, newest first, put back together are the file's lines."""
    rng = random.Random(7)
    file = tmp_path / "log"
    block = logs.BLOCK
    try:
        for _ in range(200):
            lines = [bytes(rng.choice(b"ab\xff ") for _ in range(rng.randint(0, 20)))
                     for _ in range(rng.randint(0, 50))]
            tail = b"cut" if rng.random() < 0.3 else b""
            file.write_bytes(b"".join(line + b"\n" for line in lines) + tail)
            logs.BLOCK = rng.randint(1, 40)
            keep = None if rng.random() < 0.5 else (lambda raw: raw.count(b"a") % 2 == 0)
            expected = [line for line in lines if keep is None or keep(line)]
            got: list[bytes] = []
            page = logs.read_backwards(str(file), rng.randint(1, 6), None, keep,
                                       max_scan=rng.choice([10 ** 9, 30]))
            while True:
                got[:0] = page.lines
                if page.at_start:
                    break
                page = logs.read_backwards(str(file), rng.randint(1, 6), page.cursor, keep,
                                           max_scan=rng.choice([10 ** 9, 30]))
            assert got == expected
    finally:
        logs.BLOCK = block


def test_the_first_page_of_a_big_log_reads_one_block(tmp_path):
    file = tmp_path / "big.log"
    line = b"MSG:[10:00:00 5.3.2027] --news=1 2 3 :user [server handle]\n"
    with open(file, "wb") as out:
        out.write(line * (20 * 1024 * 1024 // len(line)))
    page = logs.read_backwards(str(file), 200)
    assert len(page.lines) == 200 and page.scanned <= logs.BLOCK
    assert page.cursor == os.path.getsize(file) - 200 * len(line)


def log_lines(home, server: Server) -> list[bytes]:
    """The server's log file, read here."""
    name = Path(server.variable("/", "ECF_LOG"))
    return (name if name.is_absolute() else home / name).read_bytes().split(b"\n")[:-1]


def test_server_and_node_log_pages_are_the_log_files_lines(demo):
    server = Server(demo.host, demo.port)
    server.sync()
    page = logs.log_page(server, 30)
    on_disk = log_lines(demo.home, server)
    assert page.local and len(page.lines) == 30
    # the newest lines, in order: the page is the last run of 30 lines of the file
    # (later polls may have appended lines since; a line such as "--stats" repeats)
    ends = [end for end in range(len(on_disk) - 1, 28, -1)
            if on_disk[end - 29:end + 1] == list(page.lines)]
    assert ends and ends[0] >= len(on_disk) - 200
    end = ends[0]
    older = logs.log_page(server, 30, before=page)
    assert list(older.lines) == on_disk[end - 59:end - 29]

    node = "/demo/forecast"
    mine = logs.log_page(server, 10_000, node=node)
    word = re.compile(rb"(^|[\s:\[(])" + re.escape(node.encode()) + rb"($|[\s/:,)])")
    expected = [line for line in log_lines(demo.home, server) if word.search(line)]
    assert mine.at_start and list(mine.lines) == expected[:len(mine.lines)]
    assert len(mine.lines) >= 4 and all(word.search(line) for line in mine.lines)
    assert not any(b"/demo/forecastx" in line for line in mine.lines)
    hits = logs.log_page(server, 10_000, text="SUBMITTED", node=node)
    assert list(hits.lines) == [line for line in mine.lines if b"submitted" in line.lower()]


def test_a_remote_log_comes_through_log_get(demo, monkeypatch):
    server = Server(demo.host, demo.port)
    server.sync()
    monkeypatch.setattr(server, "log_file", lambda: None)  # as for a server elsewhere
    page = logs.log_page(server, 20)
    assert not page.local and page.source == "ecflow_client --log=get"
    told = client(demo.port, "--log=get", "200").stdout.rstrip(b"\n").split(b"\n")
    assert runs_in(told, list(page.lines))
    older = logs.log_page(server, 20, before=page)
    told = client(demo.port, "--log=get", "400").stdout.rstrip(b"\n").split(b"\n")
    assert runs_in(told, [*older.lines, *page.lines])  # no gap, no repeat


def runs_in(lines: list[bytes], run: list[bytes]) -> bool:
    """Whether ``run`` is a stretch of consecutive lines of ``lines``."""
    return any(lines[i:i + len(run)] == run for i in range(len(lines) - len(run) + 1))


def test_log_lines_show_utc_for_a_server_in_tokyo():
    with DemoServer(env={"TZ": "Asia/Tokyo"}) as tokyo:
        server = Server(tokyo.host, tokyo.port)
        server.sync()
        wait_until(lambda: server.sync() or server.log_clock().offset == timedelta(hours=9),
                   what="the log clock to be detected", timeout=40)
        page = logs.log_page(server, 50)
        shown = views_html.log_lines(page, server.log_clock())
        for raw, text in zip(page.lines, shown, strict=True):
            stamp = re.match(rb"\w+:\[(\d+):(\d+):(\d+) (\d+)\.(\d+)\.(\d+)\]", raw)
            if stamp is None:
                continue
            h, mi, s, d, mo, y = map(int, stamp.groups())
            utc = datetime(y, mo, d, h, mi, s) - timedelta(hours=9)
            assert f"{utc:%Y-%m-%d %H:%M:%S}" in text, (raw, text)


# -- zombies ---------------------------------------------------------------------------------
ZOMBIE_JOB = JOB_HEAD.replace("ECF_TIMEOUT=30", "ECF_TIMEOUT=120") + """echo started
sleep 3
ecflow_client --complete
echo "complete returned $?"
"""


def zombie_lines(port: int, env: dict | None = None) -> list[list[str]]:
    out = client(port, "--zombie_get", env=env).stdout.decode().splitlines()
    return [line.split() for line in out[1:] if line.strip()]


@pytest.fixture
def zombie():
    definition = suite_head("z") + "  task run\nendsuite\n"
    with DemoServer(definition=definition, files={"z/run.ecf": ZOMBIE_JOB}) as s:
        wait_until(lambda: task_state(s.port, "/z/run").get("state") == "active",
                   what="the job to start")
        client(s.port, "--suspend", "/z/run")  # requeued, it must not run again
        client(s.port, "--requeue=force", "/z/run")  # the running job is now a zombie
        wait_until(lambda: any(z[5:7] == ["auto-block", "complete"] or "complete" in z
                               for z in zombie_lines(s.port)),
                   what="the job's complete to reach the server as a zombie's")
        yield s


def test_zombies_are_the_servers_and_fob_lets_the_job_finish(zombie):
    server = Server(zombie.host, zombie.port)
    server.sync()
    listed = zombie_lines(zombie.port)
    found = server.zombies()
    assert [(z.path, z.type, z.password, z.pid, str(z.try_no)) for z in found] == [
        tuple(line[:2] + line[3:6]) for line in listed]
    explorer = explore(zombie.address, interval=60)
    try:
        panel = explorer.panel
        explorer.select("/")
        wait_until(lambda: panel.info is not None and panel.info.kind == "server",
                   what="the server row")
        panel.tabs.selected_index = panel.tab_names.index("Zombies")
        view = panel.views["Zombies"].view
        assert 'data-ecf-path="/z/run"' in view.value and "Created by user action" in \
            view.value
        view.click("zombie", "fob:/z/run")
        assert "Fob the zombie of /z/run" in html.unescape(panel.question.value)
        assert zombie_lines(zombie.port), "asked, not done yet"
        panel.confirm()
        assert "fobbed" in html.unescape(panel.message.value)
        wait_until(lambda: b"complete returned 0" in job_output(zombie.home, "/z/run", 1),
                   what="the fobbed job to finish")
        wait_until(lambda: zombie_lines(zombie.port) == [], what="the zombie to go")
        panel.views["Zombies"].changed(panel.info)
        assert "the server has no zombies" in view.value
    finally:
        explorer.close()


def test_a_read_only_user_is_told_what_the_server_did(zombie, monkeypatch):
    """ecFlow 5.9 lets a read-only user fob or remove a zombie (measured: no write check
    on zombie commands); a server that refuses says why. Either way the message is
    what the server did, checked with ``--zombie_get``."""
    for name, value in make_read_only(zombie).items():
        monkeypatch.setenv(name, value)
    explorer = explore(zombie.address, interval=60)
    try:
        panel = explorer.panel
        explorer.select("/")
        wait_until(lambda: panel.info is not None, what="the server row")
        panel.tabs.selected_index = panel.tab_names.index("Zombies")
        panel.views["Zombies"].view.click("zombie", "remove:/z/run")
        panel.confirm()
        message = html.unescape(panel.message.value)
        if zombie_lines(zombie.port):  # refused: the server's own words are shown
            assert "refused" in message and "access" in message, message
        else:
            assert re.sub("<[^>]+>", "", message) == "Removed the zombie of /z/run."
    finally:
        explorer.close()
    read_only = explore(zombie.address, interval=60, read_only=True)
    try:
        read_only.select("/")
        panel = read_only.panel
        wait_until(lambda: panel.info is not None, what="the server row")
        panel.tabs.selected_index = panel.tab_names.index("Zombies")
        assert 'data-ecfnb-op="zombie"' not in panel.views["Zombies"].view.value
        panel.ask("Fob?", lambda: "done")
        assert "read_only=True" in panel.message.value
    finally:
        read_only.close()


def test_the_servers_copy_of_a_file_is_the_files_bytes(demo):
    """ecflow_client prints a file with one newline more; the map serves the bytes."""
    server = Server(demo.host, demo.port)
    server.sync()
    remote = FileSystemMap(server, prefer_local=False)
    for path, on_disk in (("/demo/forecast/post.job", "demo/forecast/post.job1"),
                          ("/demo/forecast/post.out", "demo/forecast/post.1")):
        assert remote.read(path) == (demo.home / on_disk).read_bytes(), path
    assert server.log_tail(5).endswith(b"\n") and not server.log_tail(5).endswith(b"\n\n")


# -- timeline --------------------------------------------------------------------------------
def test_timeline_durations_match_the_log(demo):
    server = Server(demo.host, demo.port)
    server.sync()
    wait_until(lambda: task_state(demo.port, "/demo/forecast/model").get("state")
               == "complete", what="the model to complete", timeout=60)
    runs = timeline(server, "/demo")
    stats = runs.durations()
    text = b"\n".join(log_lines(demo.home, server))
    for path in ("/demo/prepare/fetch_obs", "/demo/forecast/model"):
        active = re.findall(rb"LOG:\[(\d+):(\d+):(\d+) [\d.]+\]\s+active: " +
                            re.escape(path.encode()) + rb"\s", text)
        done = re.findall(rb"LOG:\[(\d+):(\d+):(\d+) [\d.]+\]\s+complete: " +
                          re.escape(path.encode()) + rb"\s", text)
        assert active and done and stats[path].completed == len(done)
        start, end = (timedelta(hours=int(h), minutes=int(m), seconds=int(s))
                      for h, m, s in (active[-1], done[-1]))
        assert stats[path].last == end - start
        assert stats[path].minimum <= stats[path].median <= stats[path].maximum
    assert stats["/demo/forecast/post"].aborted >= 1
    svg = runs.svg()
    for path in stats:
        assert f'data-ecfnb-arg="{path}"' in svg


# -- table and search ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated():
    with DemoServer(tasks=300) as s:
        yield s


def test_table_rows_are_the_servers_nodes_sorted_and_paged(generated):
    server = Server(generated.host, generated.port)
    server.sync()
    now = states(generated.port)
    under = {p: s for p, s in now.items() if p.startswith("/gen00/")}
    first = table.table_page(server, "/gen00", page=0, size=50)
    assert first.total == len(under) and first.pages == -(-len(under) // 50)
    everything: list[str] = []
    for number in range(first.pages):
        everything += [row.path for row in table.table_page(server, "/gen00", page=number,
                                                            size=50).rows]
    assert everything == sorted(under)
    for row in first.rows:
        assert row.state == under[row.path]
    by_state = table.table_page(server, "/gen00", table.TableQuery(sort="state"), size=10_000)
    assert [r.state for r in by_state.rows] == sorted(under[p] for p in under)
    recent = table.table_page(server, "/gen00", table.TableQuery(sort="since",
                                                                   descending=True),
                              size=10_000)
    since = [r.since for r in recent.rows if r.since]
    assert since == sorted(since, reverse=True)
    aborted = table.table_page(server, "/", table.TableQuery(
        states=frozenset({"aborted"}), within=timedelta(hours=1)), size=10_000)
    assert {r.path for r in aborted.rows} == {p for p, s in now.items() if s == "aborted"}
    with pytest.raises(ValueError, match="sort by one of"):
        table.TableQuery(sort="colour")
    with pytest.raises(ValueError, match="unknown state"):
        table.TableQuery(states=frozenset({"broken"}))
    html_text = views_html.table_html(first)
    assert html_text.count('class="ecfnb-row"') == 50 and 'data-ecfnb-op="page"' in html_text


def names_and_states(port: int) -> dict[str, tuple[str, str]]:
    return {path: (path.rsplit("/", 1)[-1], state)
            for path, (_kind, state) in get_state(port).items()}


def test_search_by_glob_regex_path_and_state_matches_a_walk_of_the_server(generated):
    server = Server(generated.host, generated.port)
    server.sync()
    nodes = names_and_states(generated.port)
    paths, total = server.search(SearchQuery(name="t00*"), limit=10_000)
    expected = [p for p, (n, _s) in nodes.items() if fnmatch.fnmatch(n, "t00*")]
    assert sorted(paths) == sorted(expected) and total == len(expected)
    paths, _ = server.search(SearchQuery(name=r"t0[0-4]\d", regex=True, path="gen01"), 10_000)
    assert sorted(paths) == sorted(p for p, (n, _s) in nodes.items()
                                   if re.fullmatch(r"t0[0-4]\d", n) and "gen01" in p)
    paths, total = server.search(SearchQuery(states=frozenset({"aborted"})), limit=3)
    assert len(paths) == min(3, total) and total == sum(s == "aborted"
                                                        for _n, s in nodes.values())
    with pytest.raises(ValueError, match="bad regular expression"):
        SearchQuery(name="t0[", regex=True).matcher()
    with pytest.raises(ValueError, match="unknown attribute kind"):
        server.search(SearchQuery(kinds=frozenset({"colour"})))


def test_search_as_you_type_in_the_explorer(generated):
    explorer = explore(generated.address, interval=60)
    try:
        search = explorer.search
        search.name.value = "t01*"  # no Enter: the debounce searches
        nodes = names_and_states(generated.port)
        count = sum(fnmatch.fnmatch(n, "t01*") for n, _s in nodes.values())
        wait_until(lambda: f"{count} match(es)" in search.results.value,
                   what="the search results", timeout=10)
        first = re.search(r'data-ecfnb-arg="0:([^"]+)"', search.results.value).group(1)
        search.results.click("show", f"0:{first}")
        wait_until(lambda: explorer.panel.info is not None and
                   explorer.panel.info.path == first, what="the hit selected")
        search.regex.value = True
        search.name.value = "t0["
        wait_until(lambda: "bad regular expression" in search.results.value,
                   what="the regex error")
    finally:
        explorer.close()


# -- every try's output and job status -------------------------------------------------------
TRIES = job("""
echo "output of try %ECF_TRYNO%"
if [ %ECF_TRYNO% -lt 3 ]; then ecflow_client --abort="try %ECF_TRYNO%"; exit 0; fi
""")
STATUS = job("sleep 60")


def test_the_output_of_each_try_and_the_job_status(tmp_path):
    definition = (suite_head("o", tries=3) + "  task retry\n  task slow\n"
                  "    edit ECF_STATUS_CMD 'echo status of %ECF_NAME% rid %ECF_RID% "
                  ">%ECF_JOB%.stat 2>&1'\nendsuite\n")
    with DemoServer(definition=definition, files={"o/retry.ecf": TRIES,
                                                  "o/slow.ecf": STATUS}) as s:
        wait_until(lambda: task_state(s.port, "/o/retry").get("try") == "3" and
                   task_state(s.port, "/o/retry").get("state") == "complete",
                   what="the third try to complete", timeout=60)
        wait_until(lambda: task_state(s.port, "/o/slow").get("state") == "active",
                   what="the slow job to run")
        explorer = explore(s.address, path="/o/retry", interval=60)
        try:
            panel = explorer.panel
            wait_until(lambda: panel.info is not None and panel.info.try_no == 3,
                       what="try 3 in the panel")
            panel.tabs.selected_index = panel.tab_names.index("Output")
            assert [v for _label, v in panel.try_pick.options] == [0, 2, 1]
            assert panel.try_pick.layout.display != "none"
            for try_no in (1, 2):
                panel.try_pick.value = try_no
                shown = html.unescape(re.sub("<[^>]+>", "", panel.pages["Output"].value))
                assert shown == job_output(s.home, "/o/retry", try_no).decode().rstrip("\n")
                assert f"try {try_no} (an earlier try)" in panel.output_info.value
            panel.try_pick.value = 0
            assert "output of try 3" in panel.pages["Output"].value

            explorer.select("/o/slow")
            wait_until(lambda: panel.info is not None and panel.info.path == "/o/slow",
                       what="/o/slow")
            assert panel.status_button.layout.display != "none"
            panel.show_job_status()
            stat = s.home / "o" / "slow.job1.stat"
            wait_until(lambda: stat.exists() and " rid " in panel.job_status.value,
                       what="the job status", timeout=20)
            assert html.escape(stat.read_text().strip()) in panel.job_status.value
            rid = task_state(s.port, "/o/slow")["rid"]
            assert f"status of /o/slow rid {rid}" in stat.read_text()
            fsmap = FileSystemMap(Server(s.host, s.port))
            assert fsmap.read("/o/slow.stat") == stat.read_bytes()
        finally:
            explorer.close()


# -- the tree's marks ------------------------------------------------------------------------
MARKS = (suite_head("m") + """  limit lim 4
  task run
    inlimit lim
    event go
    event stay
    meter done 0 10
    label where ""
    time 23:59
    late -c +01:00
  family loop
    repeat integer i 1 5 2
    task once
      cron 23:00
endsuite
""")
MARKED = job("""
ecflow_client --event=go
ecflow_client --meter=done 7
ecflow_client --label=where "step 7"
sleep 60
""")


def test_the_tree_draws_events_repeat_time_limit_as_the_server_has_them():
    with DemoServer(definition=MARKS, files={"m/run.ecf": MARKED,
                                             "m/loop/once.ecf": job("")}) as s:
        client(s.port, "--force=queued", "/m/run")  # run now, not at 23:59
        client(s.port, "--free-dep", "/m/run", check=False)
        client(s.port, "--run", "/m/run")
        wait_until(lambda: "# 7" in client(s.port, "--get_state", "/m/run").stdout.decode(),
                   what="the meter at 7", timeout=30)
        server = Server(s.host, s.port)
        server.sync()
        info = server.summary("/m/run", marks=True)
        marks = {(a.kind, a.name): a.value for a in info.marks}
        told = client(s.port, "--get_state", "/m").stdout.decode()
        assert re.search(r"event go # set", told) and marks[("event", "go")] == "set"
        assert marks[("event", "stay")] == "clear" and "event stay\n" in told + "\n"
        assert re.search(r"meter done 0 10 \d+ # 7", told) and marks[("meter", "done")] == "7"
        assert marks[("label", "where")] == "step 7"
        assert marks[("time", "time")] == "23:59"
        used = re.search(r"limit lim 4 # (\d+)", told)
        limits = {(a.kind, a.name): a.value for a in server.summary("/m", marks=True).marks}
        assert limits[("limit", "lim")] == f"{used.group(1) if used else 1}/4"
        loop = {(a.kind, a.name): a.value for a in
                server.summary("/m/loop", marks=True).marks}
        value = re.search(r"repeat integer i 1 5 2 # (\d+)", told)
        assert loop[("repeat", "i")] == (value.group(1) if value else "1")
        from ecfnb.widgets import tree_html
        label = tree_html.node_label(info)
        assert 'data-ecf-mark="event:go" data-value="set"' in label
        assert 'data-ecf-mark="meter:done" data-value="7"' in label and "width:70%" in label
        assert all(title for title in re.findall(r'class="ecfnb-mark[^"]*"[^>]*title="([^"]*)"',
                                                 label))
