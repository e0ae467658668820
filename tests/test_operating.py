"""Operating from Python against real servers: several nodes per action, every edit
kind checked with ``ecflow_client --query``/``--get_state``, validation before
anything is sent, a read-only user's refusals, edit-and-submit of a script, the
session's action log, and the preview compared with what the server then does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import ecfnb
from ecfnb import AccessDenied, DemoServer, Server, action_log, run_action

from conftest import make_read_only, wait_for
from helpers import client, job, suite_head, task_state

SUITE = suite_head("op", 1) + """\
  limit lim 2
  family f
    task gate
    task t1
      trigger gate == complete
      inlimit /op:lim
    task t2
      trigger gate == complete
      inlimit /op:lim
    task t3
      trigger gate == complete
      inlimit /op:lim
    task after
      trigger t1 == complete and t3 == complete
    task future
      trigger gate == complete
      date 1.1.2099
    task early
      trigger gate == complete
      today 00:00
  endfamily
  family g
    repeat integer r 0 5
    task x
      label lab ''
      meter m 0 10
      event e
      edit GREETING 'hello'
  endfamily
  family hold
    task sus
      trigger /op/f/gate == complete
  endfamily
endsuite
"""
TASKS = ("gate", "t1", "t2", "t3", "after", "future", "early")


def files() -> dict[str, str]:
    found = {f"op/f/{name}.ecf": job("sleep 60") for name in TASKS}
    found["op/f/gate.ecf"] = job("ecflow_client --abort=test; exit 0")
    found["op/g/x.ecf"] = job("echo greeting=%GREETING%\nsleep 60")
    found["op/hold/sus.ecf"] = job("sleep 60")
    return found


@pytest.fixture
def op():
    """A server with the suite above: gate aborted, t1..early waiting on it, /op/hold
    suspended, /op/g/x running."""
    srv = DemoServer(definition=SUITE, files=files())
    srv.start(wait=False)
    try:
        client(srv.port, "--suspend", "/op/hold")
        wait_for(lambda: task_state(srv.port, "/op/f/gate").get("state") == "aborted",
                 what="gate aborted")
        wait_for(lambda: task_state(srv.port, "/op/g/x").get("state") == "active",
                 what="x active")
        yield srv
    finally:
        srv.stop()
        srv.remove_home()


def query(port: int, kind: str, what: str) -> str:
    return client(port, "--query", kind, what).stdout.decode().strip()


def states(port: int) -> dict[str, str]:
    return {name: task_state(port, f"/op/f/{name}").get("state", "") for name in TASKS}


def running(port: int) -> set[str]:
    return {f"/op/f/{name}" for name, state in states(port).items()
            if state in ("submitted", "active")}


def test_one_command_for_several_nodes_across_families_and_one_log_entry(op):
    server = Server("localhost", op.port)
    server.sync()
    before = len(action_log())
    report = run_action(server, "suspend", ["/op/f/t1", "/op/g/x"])
    assert report.startswith("Suspended 2 nodes (/op/f/t1, /op/g/x)")
    assert task_state(op.port, "/op/f/t1").get("suspended") == "1"
    assert task_state(op.port, "/op/g/x").get("suspended") == "1"
    entries = list(action_log())[before:]
    assert len(entries) == 1 and entries[0].paths == ("/op/f/t1", "/op/g/x")
    assert entries[0].command == ("--suspend", "/op/f/t1", "/op/g/x") and entries[0].ok
    assert entries[0].user == server.user and entries[0].server == server.address
    assert list(action_log().about("/op/g")) == [entries[0]]
    assert "--suspend /op/f/t1 /op/g/x" in action_log()._repr_html_()
    # order is one node at a time: one command per node
    run_action(server, "order_bottom", ["/op/f/gate"])
    assert [e.command for e in list(action_log())[-1:]] == [("--order", "/op/f/gate",
                                                             "bottom")]
    get = client(op.port, "--get", "/op").stdout.decode()
    assert get.index("task early") < get.index("task gate")


def test_requeue_aborted_under_a_family_requeues_only_the_aborted(op):
    server = Server("localhost", op.port)
    server.sync()
    run_action(server, "complete", "/op/f/t1")
    run_action(server, "requeue_aborted", "/op/f")
    wait_for(lambda: task_state(op.port, "/op/f/gate").get("state") in
             ("submitted", "active", "aborted") and
             task_state(op.port, "/op/f/gate").get("try") == "1", what="gate again")
    assert task_state(op.port, "/op/f/t1")["state"] == "complete"  # not requeued


def test_each_edit_kind_reaches_the_server(op):
    server = Server("localhost", op.port)
    server.sync()
    x = "/op/g/x"
    server.set_variable(x, "NEWVAR", "a b")
    assert query(op.port, "variable", f"{x}:NEWVAR") == "a b"
    server.sync()
    server.set_variable(x, "NEWVAR", "changed")
    assert query(op.port, "variable", f"{x}:NEWVAR") == "changed"
    server.sync()
    server.delete_variable(x, "NEWVAR")
    assert "NEWVAR" not in client(op.port, "--get", x).stdout.decode()
    server.set_label(x, "lab", "hello world")
    assert query(op.port, "label", f"{x}:lab") == "hello world"
    server.set_meter(x, "m", 7)
    assert query(op.port, "meter", f"{x}:m") == "7"
    server.set_event(x, "e", True)
    assert query(op.port, "event", f"{x}:e") == "set"
    server.set_event(x, "e", False)
    assert query(op.port, "event", f"{x}:e") == "clear"
    server.set_limit("/op", "lim", maximum=5)
    server.set_limit("/op", "lim", value=1)
    assert query(op.port, "limit", "/op:lim") == "1"
    assert "limit lim 5" in client(op.port, "--get", "/op").stdout.decode()
    server.set_repeat("/op/g", 3)
    assert query(op.port, "repeat", "/op/g") == "3"
    server.set_late(x, "-s +00:15 -c +02:00")
    assert "late -s +00:15 -c +02:00" in client(op.port, "--get", x).stdout.decode()
    server.add_time(x, "today", "10:00")
    server.add_time(x, "day", "monday")
    text = client(op.port, "--get", x).stdout.decode()
    assert "today 10:00" in text and "day monday" in text
    server.sync()
    server.delete_time(x, "today", "10:00")
    assert "today 10:00" not in client(op.port, "--get", x).stdout.decode()
    done = [e for e in action_log() if e.server == server.address]
    assert [e.action for e in done][-3:] == ["add today 10:00", "add day monday",
                                             "delete today 10:00"]


def test_bad_edits_are_refused_before_anything_is_sent(op):
    server = Server("localhost", op.port)
    server.sync()
    before = len(action_log())
    x = "/op/g/x"
    for call, words in [
        (lambda: server.set_meter(x, "m", 11), "from 0 to 10"),
        (lambda: server.set_meter(x, "nope", 1), "no meter 'nope'"),
        (lambda: server.set_event(x, "nope"), "no event 'nope'"),
        (lambda: server.set_label(x, "nope", "v"), "no label 'nope'"),
        (lambda: server.set_variable(x, "1BAD", "v"), "bad variable name"),
        (lambda: server.delete_variable(x, "ECF_HOME"), "not a variable of /op/g/x itself"),
        (lambda: server.set_repeat("/op/g", 9), "runs from 0 to 5"),
        (lambda: server.set_late(x, "soon"), "bad late attribute"),
        (lambda: server.add_time(x, "time", "25:99x"), "bad time"),
        (lambda: server.set_limit("/op", "lim", value=-1), "whole number >= 0"),
    ]:
        with pytest.raises(ValueError, match=words):
            call()
    assert len(action_log()) == before  # nothing reached the server
    assert query(op.port, "meter", f"{x}:m") == "0"


def test_a_read_only_user_is_refused_in_the_servers_words_and_the_log_says_so(
        op, monkeypatch):
    env = make_read_only(op)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    server = Server("localhost", op.port)
    server.sync()
    with pytest.raises(AccessDenied):
        server.set_label("/op/g/x", "lab", "nope")
    with pytest.raises(AccessDenied):
        run_action(server, "suspend", ["/op/f/t1", "/op/f/t2"])
    assert query(op.port, "label", "/op/g/x:lab") == ""
    assert task_state(op.port, "/op/f/t1").get("suspended") is None
    last = list(action_log())[-2:]
    assert [e.ok for e in last] == [False, False] and all(e.answer for e in last)


def test_edit_and_submit_a_script_with_its_variables(op):
    server = Server("localhost", op.port)
    server.sync()
    script = server.edit_script("/op/g/x")
    assert script.variables == {"GREETING": "hello"}
    assert "echo greeting=%GREETING%" in script.text
    assert "ecflow_client --init" in script.preprocessed
    edited = script.text.replace("sleep 60", "echo edited-by-ecfnb")
    run_action(server, "suspend", "/op/g")  # (its repeat would run x again at once)
    run_action(server, "complete", "/op/g/x")
    wait_for(lambda: task_state(op.port, "/op/g/x")["state"] in ("queued", "complete"),
             what="x done")
    server.submit_script("/op/g/x", edited, {"GREETING": "bonjour"})
    def edited_output() -> bytes:
        # the job's output on disk (the repeat may requeue x at once, resetting its try)
        return b"".join(out.read_bytes() for out in (Path(op.home) / "op/g").glob("x.[0-9]*"))
    wait_for(lambda: b"edited-by-ecfnb" in edited_output(), what="the edited job's output")
    assert b"greeting=bonjour" in edited_output()
    assert action_log().records[-1].action == "submit edited script"


def test_preview_names_what_the_server_then_submits(op):
    server = Server("localhost", op.port)
    server.sync()
    found = server.preview("complete", "/op/f/gate")
    assert found.complete and found.examined >= 10
    assert set(found.submitted) == {"/op/f/t1", "/op/f/t2", "/op/f/early"}
    later = {w.path: w.reason for w in found.later}
    assert later["/op/f/t3"].startswith("limit /op:lim is full")
    assert "date 1.1.2099" in later["/op/f/future"]
    assert "t1 == complete and t3 == complete" in later["/op/f/after"]
    assert [(u.name, u.before, u.after, u.maximum) for u in found.limits] == [
        ("/op:lim", 0, 2, 2)]
    assert ("/op/f/gate", "aborted", "complete") in [
        (c.path, c.before, c.after) for c in found.changes]
    assert "/op/hold/sus" not in found.submitted  # it is under a suspended family
    assert "2 released later" not in repr(found) and "t3" in repr(found)
    assert "ecfnb-preview" in found._repr_html_()
    run_action(server, "complete", "/op/f/gate")
    time.sleep(3)  # the server submits in the pass after the command
    assert running(op.port) == set(found.submitted)


def test_preview_of_a_family_requeue_and_of_a_resume(op):
    server = Server("localhost", op.port)
    server.sync()
    found = ecfnb.preview(server, "requeue", "/op/f")
    assert found.submitted == ("/op/f/gate",)
    assert {w.path for w in found.later} == {f"/op/f/{n}" for n in TASKS[1:]}
    resumed = server.preview("resume", "/op/hold")
    assert ("/op/hold", "suspended", "queued") in [
        (c.path, c.before, c.after) for c in resumed.changes]
    assert resumed.submitted == () and [w.path for w in resumed.held] == ["/op/hold/sus"]
    assert "gate == complete" in resumed.held[0].reason
    run_action(server, "requeue", "/op/f")
    wait_for(lambda: task_state(op.port, "/op/f/gate").get("try") == "1"
             and task_state(op.port, "/op/f/gate").get("state") != "queued",
             what="gate resubmitted")
    assert {p for p in running(op.port) if p != "/op/f/gate"} == set()
    assert all(states(op.port)[n] == "queued" for n in TASKS[1:])


def test_preview_is_bounded_and_says_where_it_stopped(op):
    server = Server("localhost", op.port)
    server.sync()
    found = server.preview("requeue", "/op", seconds=0.0)
    assert not found.complete and "stopped after" in found.summary()
    with pytest.raises(ValueError, match="unknown node action 'bogus'"):
        server.preview("bogus", "/op")
    with pytest.raises(ValueError, match="Rerun does not apply to a family"):
        server.preview("rerun", "/op/f")
    assert server.preview("order_top", "/op/f/t1").notes == ("changes no state now",)


def test_an_incident_record_keeps_the_actions_taken_on_the_node(op):
    server = Server("localhost", op.port)
    server.sync()
    run_action(server, "rerun", "/op/f/gate")
    server.set_label("/op/g/x", "lab", "not about gate")
    wait_for(lambda: task_state(op.port, "/op/f/gate").get("try") == "2" and
             task_state(op.port, "/op/f/gate")["state"] == "aborted", what="gate aborted again")
    record = ecfnb.incident("/op/f/gate", server)
    assert [row[2] for row in record.actions] == ["Rerun"]
    assert record.actions[0][4] == "ecflow_client --force=queued /op/f/gate"
    assert record.actions[0][5].startswith("ok: ")
    assert "ecflow_client --force=queued /op/f/gate" in record.to_markdown()
    assert "ecfnb-incident-actions" in record.to_html()
    assert record.to_dict()["actions"][0][2] == "Rerun"


# -- the explorer: menu, several nodes, confirmation with preview, editors ------------------
@pytest.fixture
def op_explorer(op):
    explorer = ecfnb.explore(Server("localhost", op.port), interval=60)
    try:
        yield explorer
    finally:
        explorer.close()


def entries_of(explorer, paths) -> dict[str, dict]:
    _title, entries = explorer.open_menu(paths)
    return {entry["name"]: entry for entry in entries}


def test_the_menu_offers_what_ecflow_ui_offers_and_runs_what_is_picked(op, op_explorer):
    explorer = op_explorer
    explorer.select("/op/f/gate")
    menu = entries_of(explorer, ["/op/f/gate"])
    assert [n for n, e in menu.items() if e["enabled"]][:6] == [
        "suspend", "rerun", "execute", "requeue", "complete", "defstatus_complete"]
    assert not menu["kill"]["enabled"] and "not for a aborted task" in menu["kill"]["tip"]
    assert {"copy", "show", "edit"} <= set(menu)
    explorer.pick("complete")
    panel = explorer.panel
    assert panel.confirmation.layout.display != "none"
    assert "Set /op/f/gate complete?" in panel.question.value
    assert "/op/f/t1" in panel.preview.value and "Submitted now" in panel.preview.value
    panel.confirm()
    wait_for(lambda: task_state(op.port, "/op/f/gate")["state"] == "complete",
             what="gate complete")
    assert "Set /op/f/gate complete" in panel.message.value


def test_marked_nodes_get_one_confirmation_and_one_command(op, op_explorer):
    explorer = op_explorer
    explorer.select("/op/f/t1")
    explorer.mark(["/op/f/t2", "/op/g/x"])
    assert explorer.selection == ["/op/f/t1", "/op/f/t2", "/op/g/x"]
    menu = entries_of(explorer, explorer.selection)
    assert menu["suspend"]["enabled"] and not menu["order_top"]["enabled"]
    assert "one node at a time" in menu["order_top"]["tip"]
    explorer.pick("suspend")
    assert "Suspend 3 nodes (/op/f/t1, /op/f/t2, /op/g/x)?" in explorer.panel.question.value
    explorer.panel.confirm()
    assert all(task_state(op.port, p).get("suspended") == "1"
               for p in ("/op/f/t1", "/op/f/t2", "/op/g/x"))
    assert action_log().records[-1].command == ("--suspend", "/op/f/t1", "/op/f/t2",
                                                "/op/g/x")
    # the panel's buttons act on the marks too
    explorer.panel.buttons["resume"].click()
    assert "Resume 3 nodes" in explorer.panel.question.value
    explorer.panel.confirm()
    assert all(task_state(op.port, p).get("suspended") is None
               for p in ("/op/f/t1", "/op/f/t2", "/op/g/x"))


def test_the_panel_editors_change_the_server(op, op_explorer):
    explorer = op_explorer
    panel = explorer.panel
    explorer.select("/op/g/x", tab="Variables")
    editor = panel.editors["Variables"]
    editor.name.value, editor.value.value = "NEWVAR", "from the panel"
    editor.apply()
    assert "Set variable NEWVAR of /op/g/x" in panel.question.value
    panel.confirm()
    assert query(op.port, "variable", "/op/g/x:NEWVAR") == "from the panel"
    assert "NEWVAR" in panel.pages["Variables"].value  # read again after the edit
    explorer.select("/op/g/x", tab="Attributes")
    editor = panel.editors["Attributes"]
    kinds = [k for _label, k in editor.kind.options]
    assert kinds == ["label", "meter", "event", "late", "time", "today", "date", "day"]
    for kind, name, value, check in [
            ("meter", "m", "4", lambda: query(op.port, "meter", "/op/g/x:m") == "4"),
            ("label", "lab", "from the panel",
             lambda: query(op.port, "label", "/op/g/x:lab") == "from the panel"),
            ("event", "e", "set", lambda: query(op.port, "event", "/op/g/x:e") == "set")]:
        editor.kind.value = kind
        editor.name.value, editor.value.value = name, value
        editor.apply()
        panel.confirm()
        assert check(), (kind, panel.message.value)
    editor.kind.value = "meter"
    editor.name.value, editor.value.value = "m", "99"
    editor.apply()  # outside the meter's range: said at once, nothing asked or sent
    assert panel.confirmation.layout.display == "none"
    assert "from 0 to 10" in panel.message.value
    assert query(op.port, "meter", "/op/g/x:m") == "4"
    panel.tabs.index = panel.tab_names.index("Actions")
    assert "set meter m" in panel.views["Actions"].widget.value


def test_edit_tab_submits_the_edited_script(op, op_explorer):
    explorer = op_explorer
    panel = explorer.panel
    server = panel.server if panel.server else None
    explorer.select("/op/g", tab=None)
    run_action(explorer.tree.views[0].server, "suspend", "/op/g")
    run_action(explorer.tree.views[0].server, "complete", "/op/g/x")
    explorer.select("/op/g/x", tab="Edit")
    edit = panel.views["Edit"]
    assert panel.current_tab == "Edit" and "echo greeting=%GREETING%" in edit.text.value
    assert edit.variables.value == "GREETING = hello\n"
    edit.text.value = edit.text.value.replace("sleep 60", "echo from-the-edit-tab")
    edit.variables.value = "GREETING = hola\n"
    edit.ask_submit()
    assert "Submit the edited script of /op/g/x" in panel.question.value
    panel.confirm()
    assert "Submitted the edited script" in panel.message.value, panel.message.value

    def output() -> bytes:
        return b"".join(f.read_bytes() for f in (Path(op.home) / "op/g").glob("x.[0-9]*"))
    wait_for(lambda: b"from-the-edit-tab" in output(), what="the job of the edited script")
    assert b"greeting=hola" in output()
    del server


def test_a_read_only_explorer_offers_no_action_in_its_menu(op):
    explorer = ecfnb.explore(Server("localhost", op.port), interval=60, read_only=True)
    try:
        explorer.select("/op/f/gate")
        menu = entries_of(explorer, ["/op/f/gate"])
        assert not any(e["enabled"] for n, e in menu.items() if n not in ("copy", "show"))
        assert menu["rerun"]["tip"] == "this explorer is read-only"
        explorer.pick("rerun")
        assert explorer.panel.confirmation.layout.display == "none"
        assert task_state(op.port, "/op/f/gate")["state"] == "aborted"
    finally:
        explorer.close()


def test_a_preview_holds_only_what_the_action_concerns(op):
    """A kill changes no trigger: the tasks that waited before are not listed as held by
    it; it names the jobs the server kills."""
    server = Server("localhost", op.port)
    server.sync()
    found = server.preview("kill", "/op/g")
    assert found.held == () and found.submitted == ()
    assert "ECF_KILL_CMD on 1 job(s) (/op/g/x)" in found.notes[0]
    suspended = server.preview("suspend", "/op/f")
    assert {w.path for w in suspended.held} == {f"/op/f/{n}" for n in TASKS[1:]}
    assert all(w.reason == "/op/f is suspended" for w in suspended.held)
    server.set_meter("/op/g/x", "m", "3")  # a whole number as a form gives it
    assert query(op.port, "meter", "/op/g/x:m") == "3"
