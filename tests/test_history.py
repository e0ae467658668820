"""The tree at a past instant, rebuilt from a real server's log, against what
``ecflow_client --get_state`` said at that instant (read then, without ecfnb), on a
server whose log is in another zone, with retries and a suspension."""

from __future__ import annotations

import fcntl
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import ecfnb
from ecfnb import DemoServer, Server

from helpers import client, job, log_changes, suite_head, wait_until

SUITE = suite_head("hist", tries=2) + """\
  family f
    task a
    task b
      trigger a == complete
    task c
      trigger b == complete
  endfamily
  family g
    task x
  endfamily
endsuite
"""
FILES = {"hist/f/a.ecf": job("sleep 3"),
         "hist/f/b.ecf": job("sleep 2\necflow_client --abort=broken-%ECF_TRYNO%\nexit 0"),
         "hist/f/c.ecf": job("true"),
         "hist/g/x.ecf": job("sleep 60")}


def snapshot(port: int) -> tuple[datetime, dict[str, tuple[str, str]]]:
    """(the moment, path -> (state, try)) as ``ecflow_client --get_state`` prints them."""
    moment = datetime.now(timezone.utc)
    text = client(port, "--get_state", "/hist").stdout.decode()
    found, stack = {}, []
    for line in text.splitlines():
        match = re.match(r"(\s*)(suite|family|task) (\S+)\s+#(.*)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 2
        del stack[depth:]
        stack.append(match.group(3))
        fields = dict(f.split(":", 1) for f in match.group(4).split() if ":" in f)
        state = "suspended" if fields.get("suspended") == "1" else fields.get("state", "")
        found["/" + "/".join(stack)] = (state, fields.get("try", "0"))
    return moment, found


def quiet_snapshot(port: int) -> tuple[datetime, dict[str, tuple[str, str]]]:
    """A snapshot no state change is near: two equal ones 1.2 s apart, at the first's
    moment T. The log stamps whole seconds (a change is stamped at or before it
    happened): a change before T is stamped <= T; one after the second snapshot is
    stamped in a later second than T's."""
    while True:
        first = snapshot(port)
        time.sleep(1.2)
        second = snapshot(port)
        if first[1] == second[1]:
            return first


def run_the_suite(port: int) -> tuple[datetime, dict, datetime, dict]:
    """Two quiet snapshots: while a runs, and once b has aborted its second try and
    /hist/g was suspended (a second after the first: the log stamps whole seconds)."""
    wait_until(lambda: snapshot(port)[1].get("/hist/f/a", ("",))[0] == "active",
               what="a active")
    early, then = quiet_snapshot(port)
    time.sleep(1.1)
    client(port, "--suspend", "/hist/g")
    wait_until(lambda: snapshot(port)[1]["/hist/f/b"] == ("aborted", "2"), timeout=60,
               what="b aborted on its second try")
    late, now = quiet_snapshot(port)
    return early, then, late, now


def as_the_snapshots(history: ecfnb.History, snapshots) -> None:
    """The tree at each snapshot's moment has its states, and /hist/f's tries."""
    for moment, expected in snapshots:
        tree = history.at(moment)
        for path, (state, try_no) in expected.items():
            assert tree[path].state == state, (moment, path, tree[path], state)
            if path.startswith("/hist/f/") and state != "queued":
                assert str(tree[path].try_no) == try_no, (path, tree[path], try_no)
    late = snapshots[-1][0]
    assert history.at(late)["/hist/f/b"].reason == "broken-2"


@pytest.fixture
def hist():
    with DemoServer(definition=SUITE, files=FILES, env={"TZ": "Asia/Tokyo"}) as srv:
        yield srv


def test_the_tree_at_past_instants_is_what_the_server_said_then(hist, tmp_path):
    port = hist.port
    early, then, late, now = run_the_suite(port)
    server = Server("localhost", port)
    history = ecfnb.history(server)
    as_the_snapshots(history, ((early, then), (late, now)))
    # read by position (backwards from each instant, or forward from the last one) or
    # from every change of the whole log: the same tree at every second of the span
    whole = ecfnb.history(server)
    assert whole.changes  # (every change read: the other way)
    first, last = whole.span
    moments = [first + (last - first) * k / 40 for k in range(41)]
    for moment in moments + moments[::-3]:  # forwards, then jumps back
        quick, full = history.at(moment), whole.at(moment)
        assert {p: quick[p] for p in quick.nodes} == {p: full[p] for p in quick.nodes}, moment
    # the same log written 'LOG:[stamp] state:' (one space, not ecFlow 5's two) is read
    # by the general patterns, to the same trees
    single = tmp_path / "single-spaced.log"
    single.write_bytes(re.sub(rb"(?m)^(LOG:\[[^\]\n]*\])  ", rb"\1 ",
                              Path(whole.source).read_bytes()))
    spaced = ecfnb.history(server, log_file=single)
    for moment in moments + moments[::-3]:
        assert spaced.at(moment).nodes == history.at(moment).nodes, moment
    changes = history.diff(early, late)
    def went(states: tuple[str, ...]) -> set[str]:  # from the two snapshots
        return {p for p in now if now[p][0] in states and then[p][0] != now[p][0]}
    def mine(paths: tuple[str, ...]) -> set[str]:  # ('/', the server's own, aside)
        return {p for p in paths if p.startswith("/hist")}
    assert mine(changes.newly_aborted) == went(("aborted",)) and "/hist/f/b" in went(
        ("aborted",))
    assert mine(changes.completed) == went(("complete",)) and "/hist/f/a" in changes.completed
    assert "/hist/f/c" in changes.still_waiting
    assert ("/hist/g", then["/hist/g"][0], "suspended") in changes.changed
    first, _last = history.span
    assert history.at(first.replace(year=first.year - 1))["/hist/f/a"].state.startswith(
        "unknown")
    assert "PastTree at" in repr(history.at(late)) and "ecfnb-past-tree" in \
        history.at(late)._repr_html_()
    with pytest.raises(ValueError, match="bad instant"):
        history.at("yesterday")
    # the incident record keeps the suite as it was when b aborted: nothing changed from
    # then to the late snapshot (c waits on b, x runs, g stays suspended)
    record = ecfnb.incident("/hist/f/b", server)
    aborted = [m for m, s, p in log_changes(port, "Asia/Tokyo")
               if p == "/hist/f/b" and s == "aborted"]
    assert record.tree_at == aborted[-1]
    kept = {p: st for p, st, _since in record.tree}
    assert {p: kept[p] for p in now} == {p: st for p, (st, _t) in now.items()}
    assert "The suite at the abort" in record.to_html() and "ecfnb-incident-tree" in \
        record.to_html()
    assert "`/hist/f/b` | aborted" in record.to_markdown()
    assert record.to_dict()["tree_at"] == aborted[-1].isoformat()
    # the explorer's time slider draws the same states, for the rows on screen
    explorer = ecfnb.explore(server, interval=60)
    try:
        for path in ("/hist", "/hist/f", "/hist/g"):
            explorer.tree.expand(path)
        for moment, expected in ((early, then), (late, now)):
            explorer.show_at(moment)
            assert explorer.showing == moment.replace(microsecond=0)
            for path, (state, _try) in expected.items():
                label = explorer.tree.widget_of(path).name
                assert f'data-ecf-past-state="{state}"' in label, (moment, path, label)
        explorer.show_live()
        assert explorer.showing is None
        assert "ecfnb-past" not in explorer.tree.widget_of("/hist/f/b").name
    finally:
        explorer.close()


def test_the_stored_stretches_give_the_trees_the_log_gives(hist, tmp_path, monkeypatch):
    """The log's stretches stored by ``history()``'s child (small ones here, so a test's
    log has many): the tree at each instant, read from them node by node (the explorer's
    way) and whole, equals what ``--get_state`` said then and the whole log's reading,
    also once the log has grown past what is stored, and again when it is stored on."""
    monkeypatch.setenv("ECFNB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ECFNB_LOG_STRETCH", "512")
    port = hist.port
    early, then, late, now = run_the_suite(port)
    server = Server("localhost", port)
    opened = ecfnb.history(server)
    assert opened.indexed(timeout=60), "the stretches were not stored"
    log = Path(opened.source)
    assert len(opened.store.records) >= 5 and opened.store.covered > log.stat().st_size // 2
    as_the_snapshots(opened, ((early, then), (late, now)))

    def same_trees(stored: ecfnb.History, moments: list[datetime]) -> None:
        whole = ecfnb.history(server)
        assert whole.changes
        for moment in moments:
            full = whole.at(moment)
            one_by_one = stored.at(moment)
            paths = sorted(full.nodes)
            assert {p: one_by_one[p] for p in paths} == {p: full[p] for p in paths}, moment
            every = dict(stored.at(moment).nodes.items())
            assert {p: every[p] for p in paths} == {p: full[p] for p in paths}, moment

    first, last = opened.span
    moments = [first + (last - first) * k / 40 for k in range(41)]
    same_trees(opened, moments + moments[::-3])  # forwards, then jumps back
    # the log grows (g resumed, f run again) while another pass holds the store: the
    # part after what is stored is read from the log, to the same trees
    client(port, "--resume", "/hist/g")
    client(port, "--requeue", "/hist/f")
    wait_until(lambda: snapshot(port)[1]["/hist/f/b"] == ("aborted", "2"), timeout=60,
               what="b aborted again")
    covered = opened.store.covered
    assert log.stat().st_size - covered > 1024
    with open(opened.store.folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        grown = ecfnb.history(server)
        assert grown.indexed(timeout=30) and grown.store.covered == covered
        end = grown.span[1]
        later = [last + (end - last) * k / 12 for k in range(13)]
        same_trees(grown, later + moments[::7] + later[::-2])
    again = ecfnb.history(server)
    assert again.indexed(timeout=60)
    deadline = time.monotonic() + 30
    while again.store.covered == covered and time.monotonic() < deadline:
        time.sleep(0.2)  # (a pass started by ``grown`` may have ended first)
        again = ecfnb.history(server)
        again.indexed(timeout=30)
    assert again.store.covered > covered, "the grown log was not stored on"
    same_trees(again, later + moments[::5])
    # a log cleared by the server (other first bytes): its old stretches are not used,
    # and a history opened before says so instead of reading past the file's new end
    client(port, "--log=clear")
    time.sleep(0.25)
    with pytest.raises(ecfnb.EcfnbError, match="cleared or replaced"):
        again.at(late)
    cleared = ecfnb.history(server)
    assert not cleared.indexed() or cleared.store.covered <= Path(cleared.source).stat().st_size
