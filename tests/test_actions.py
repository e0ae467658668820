"""Node actions against real ecflow_server processes: each action changes what an
independent ``ecflow_client --get_state`` shows, and a read-only user is refused in
the server's own words while the node stays as it was."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from ecfnb import (
    ACTIONS,
    AccessDenied,
    DemoServer,
    NodeNotFound,
    Server,
    ServerUnreachable,
    actions_for,
    available_actions,
    check_action,
    free_port,
    run_action,
)

from conftest import (
    get_state,
    make_read_only,
    run_client,
    synced_server,
    wait_for,
    write_white_list,
)

POST = "/demo/forecast/post"
REPORT = "/demo/forecast/report"
PROGRESS = "/demo/monitor/progress"
@pytest.fixture
def srv(fresh_demo) -> Server:
    return synced_server(fresh_demo)


@pytest.fixture
def foreign_server():
    """A bare ecflow_server run by 'nobody' with suite /s: the test's user does not own it,
    as a notebook user does not own an operational server."""
    if os.geteuid() != 0:
        pytest.skip("starting a server as another user needs root")
    nobody = pwd.getpwnam("nobody")
    home = Path(tempfile.mkdtemp(prefix="ecfnb-foreign-"))
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    port = free_port()
    proc = subprocess.Popen(
        ["ecflow_server", "--port", str(port)], cwd=home,
        env=dict(os.environ, ECF_HOME=str(home), ECF_PORT=str(port)),
        user=nobody.pw_uid, group=nobody.pw_gid, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: subprocess.run(["ecflow_client", "--port", str(port), "--ping"],
                                        capture_output=True).returncode == 0,
                 timeout=20, what="the foreign server")
        definition = home / "s.def"
        definition.write_text("suite s\n  family f\n    task t\n  endfamily\nendsuite\n")
        run_client("localhost", port, "--load", str(definition))
        yield "localhost", port, home
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)


def state(server: DemoServer | Server, path: str) -> str:
    """The node's state as an independent ``ecflow_client --get_state`` shows it."""
    return get_state(server.port)[path][1]


# -- the menu --------------------------------------------------------------------------------
ORDER = ["order_top", "order_up", "order_down", "order_bottom", "order_alpha"]
#: ecflow_ui's node menu (share/ecflow/etc/ecflowview_menus.json), in its order.
NODE_ACTIONS = ["suspend", "resume", "rerun", "execute", "requeue", "requeue_aborted",
                "complete", "aborted", "kill", "free_all", "free_trigger", "free_time",
                "free_date", "defstatus_complete", "defstatus_queued", *ORDER, "begin",
                "clear_late", "clear_zombie", "clear_killed"]
SERVER_ACTIONS = ["restart", "shutdown", "halt", "checkpoint"]
MENU_FILE = Path("/usr/share/ecflow/etc/ecflowview_menus.json")


def test_menu_order_kinds_and_commands():
    assert list(ACTIONS) == NODE_ACTIONS + SERVER_ACTIONS
    everywhere = ["suspend", "resume", "kill", "defstatus_complete", "defstatus_queued",
                  *ORDER]
    assert [a.name for a in actions_for("family")] == [
        "suspend", "resume", "execute", "requeue", "requeue_aborted", "kill", "free_all",
        "free_trigger", "free_time", "free_date", "defstatus_complete", "defstatus_queued",
        *ORDER]
    assert [a.name for a in actions_for("alias")] == [
        "suspend", "resume", "execute", "complete", "aborted", "kill", *everywhere[3:],
        "clear_late", "clear_zombie", "clear_killed"]
    assert "begin" in [a.name for a in actions_for("suite")]
    assert [a.name for a in actions_for("server")] == SERVER_ACTIONS
    assert ACTIONS["requeue"].command("demo/x/") == ("--requeue=force", "/demo/x")
    assert ACTIONS["rerun"].command("/demo/x") == ("--force=queued", "/demo/x")
    assert ACTIONS["rerun"].command(["/a/x", "/a/y"]) == ("--force=queued", "/a/x", "/a/y")
    assert ACTIONS["order_up"].command("/a/x") == ("--order", "/a/x", "up")
    assert ACTIONS["begin"].command("/a") == ("--begin=a",)
    assert ACTIONS["halt"].command("/") == ("--halt=yes",)
    assert ACTIONS["complete"].label == "Set complete"
    assert ACTIONS["kill"].confirmation("/demo/x").startswith("Kill /demo/x? The server")
    assert ACTIONS["kill"].confirmation(["/a/x", "/a/y"]).startswith(
        "Kill 2 nodes (/a/x, /a/y)?")
    with pytest.raises(TypeError):
        ACTIONS["halt"] = ACTIONS["kill"]  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        ACTIONS["kill"].arguments = ()  # type: ignore[misc]
    assert check_action("kill", "task") is ACTIONS["kill"]
    with pytest.raises(ValueError, match="actions for a family: suspend, resume, execute"):
        check_action("rerun", "family")


def _menu_commands() -> dict[str, str]:
    """ecflow_ui's menu entries: name (in its submenu) -> the ecflow_client command."""
    menu = json.loads(MENU_FILE.read_text())
    return {f"{item.get('menu')}/{item['name']}": item["command"]
            for item in menu["menu_items"] if item.get("command", "").startswith(
                "ecflow_client")}


@pytest.mark.skipif(not MENU_FILE.exists(), reason="ecflow_ui's menu file is not installed")
def test_each_command_is_the_one_ecflow_ui_runs():
    """Every action's arguments are those of ecflowview_menus.json (``--x y`` written
    ``--x=y`` as ecflow_client takes both; '<full_name>' is the path)."""
    commands = _menu_commands()
    where = {"free_all": "Free deps/All dependencies",
             "free_trigger": "Free deps/Trigger dependencies",
             "free_time": "Free deps/Time dependencies",
             "free_date": "Free deps/Date dependencies",
             "defstatus_complete": "Defstatus/Complete", "defstatus_queued": "Defstatus/Queued",
             "kill": "Special/Kill", "clear_late": "Special/Clear late flag",
             "clear_zombie": "Special/Clear zombie flag",
             "clear_killed": "Special/Clear killed flag",
             **{f"order_{w}": f"Order peers/{label}" for w, label in (
                 ("top", "Top"), ("up", "Up"), ("down", "Down"), ("bottom", "Bottom"),
                 ("alpha", "Alphabetically"))}}
    for name, action in ACTIONS.items():
        key = where.get(name, f"Node/{action.label.replace(' server', '')}")
        written = commands[key].split()[1:]
        path = "/suite" if action.kinds == {"suite"} else "/suite/f/t"
        expected = [path if w in ("<full_name>",) else "suite" if w == "<node_name>" else w
                    for w in written]
        got = list(action.command(path)) if action.kinds != {"server"} else \
            list(action.command("/"))
        assert " ".join(got).replace("=", " ") == " ".join(expected).replace("=", " "), name


def test_enabled_as_ecflow_ui_enables_them_for_kind_and_state(server):
    """ecflowview_menus.json: Resume only on suspended nodes, Kill only where a job runs
    (or, for a family, where one aborted), Requeue and Rerun not while a job runs, Set
    complete not on a complete task, Free deps on a queued node with a trigger, the
    other default state than the node's own, order for any node."""
    expected = {
        POST: {"suspend", "rerun", "execute", "requeue", "complete",  # aborted task
               "defstatus_complete", *ORDER},
        PROGRESS: {"suspend", "complete", "aborted", "kill", "defstatus_complete",
                   *ORDER},  # active task
        REPORT: {"suspend", "rerun", "execute", "requeue", "complete", "aborted",
                 "free_all", "free_trigger", "defstatus_complete", *ORDER},  # queued
        "/demo/archive": {"resume", "execute", "requeue", "requeue_aborted", "kill",
                          "defstatus_complete", "defstatus_queued", *ORDER},  # suspended
        "/demo/prepare": {"suspend", "execute", "requeue", "defstatus_complete",
                          *ORDER},  # complete family
        "/": {"shutdown", "halt", "checkpoint"},  # a running server
    }
    states = get_state(server.port)
    assert states[POST][1] == "aborted" and states[PROGRESS][1] == "active"
    assert states[REPORT][1] == "queued" and states["/demo/archive"][1] == "suspended"
    for path, names in expected.items():
        assert available_actions(server.menu_info(path)) == names, path


def test_unknown_action_bad_path_and_wrong_kind(server):
    with pytest.raises(ValueError, match="use one of suspend, resume, rerun, execute"):
        run_action(server, "bogus", POST)
    with pytest.raises(ValueError, match="Restart server does not apply to a task"):
        run_action(server, "restart", POST)
    with pytest.raises(NodeNotFound, match="/demo/nope"):
        run_action(server, "requeue", "/demo/nope")
    with pytest.raises(ValueError, match="Rerun does not apply to a family"):
        run_action(server, "rerun", "/demo/forecast")
    with pytest.raises(ValueError, match="does not apply to a server"):
        run_action(server, "suspend", "/")
    assert state(server, POST) == "aborted"  # nothing was sent


# -- each action changes the state ---------------------------------------------------------
def test_suspend_and_resume(fresh_demo, srv):
    assert run_action(srv, "suspend", "/demo/prepare") == "Suspended /demo/prepare."
    assert state(fresh_demo, "/demo/prepare") == "suspended"
    assert run_action(srv, "resume", "demo/prepare/") == "Resumed /demo/prepare."
    assert state(fresh_demo, "/demo/prepare") == "complete"


def test_set_complete_then_rerun_waits_for_dependencies(fresh_demo, srv):
    assert state(fresh_demo, REPORT) == "queued"  # its trigger (post complete) never holds
    assert run_action(srv, "complete", REPORT) == f"Set {REPORT} complete."
    assert state(fresh_demo, REPORT) == "complete"
    run_action(srv, "rerun", REPORT)
    time.sleep(1)  # a job would be submitted at once if the trigger allowed it
    assert state(fresh_demo, REPORT) == "queued"


def test_rerun_runs_an_aborted_task_again_keeping_its_tries(fresh_demo, srv):
    assert run_action(srv, "rerun", POST) == f"Queued {POST} to run again."

    def second_try_aborted() -> bool:
        srv.sync()
        post = srv.node(POST, detail=False)
        return post.try_no == 2 and post.state == "aborted"

    wait_for(second_try_aborted, timeout=20, what="the second try of post to abort")
    outputs = fresh_demo.home / "demo" / "forecast"
    assert (outputs / "post.1").exists() and (outputs / "post.2").exists()


def test_requeue_resets_aborted_task_and_forces_past_active_one(fresh_demo, srv):
    # Suspended parents keep the requeued tasks queued, so the test sees the new state.
    run_action(srv, "suspend", "/demo/forecast")
    assert run_action(srv, "requeue", POST) == f"Requeued {POST}."
    srv.sync()
    assert (srv.node(POST).state, srv.node(POST).try_no) == ("queued", 0)
    # A plain --requeue would silently leave the active task alone; force requeues it.
    assert state(fresh_demo, PROGRESS) == "active"
    run_action(srv, "suspend", "/demo/monitor")
    run_action(srv, "requeue", "/demo/monitor")
    assert state(fresh_demo, PROGRESS) == "queued"
    assert state(fresh_demo, "/demo/monitor") == "suspended"  # the node's own suspend stays


def test_kill_aborts_the_active_task(fresh_demo, srv):
    assert state(fresh_demo, PROGRESS) == "active"
    assert "Sent kill" in run_action(srv, "kill", PROGRESS)
    wait_for(lambda: state(fresh_demo, PROGRESS) == "aborted", timeout=20,
             what="the killed task to abort")
    srv.sync()
    assert "killed" in srv.flags(PROGRESS)


def test_node_gone_since_the_last_sync(fresh_demo, srv):
    fresh_demo.client("--delete=force", "yes", "/demo/housekeeping")
    # The view still has it; the server's reply names the path (requeue's without quotes).
    for name in ("requeue", "suspend"):
        with pytest.raises(NodeNotFound, match="/demo/housekeeping/nightly"):
            run_action(srv, name, "/demo/housekeeping/nightly")


def test_unreachable_server(fresh_demo, srv):
    fresh_demo.kill()
    with pytest.raises(ServerUnreachable, match="not reachable"):
        run_action(srv, "suspend", "/demo/prepare")


# -- write access --------------------------------------------------------------------------
def test_read_only_user_is_refused_and_can_still_read(fresh_demo, monkeypatch):
    for name, value in make_read_only(fresh_demo).items():
        monkeypatch.setenv(name, value)
    reader = Server(fresh_demo.host, fresh_demo.port)
    reader.sync()
    before = get_state(fresh_demo.port)
    for name, path in [("suspend", "/demo/prepare"), ("complete", REPORT), ("requeue", POST),
                       ("rerun", POST), ("kill", PROGRESS), ("resume", "/demo/archive")]:
        with pytest.raises(AccessDenied) as info:
            run_action(reader, name, path)
        message = str(info.value)
        assert "[ authentication failed ] User reader has no *write* access" in message
        assert f"paths({path},)" in message and "white list" in message
        assert get_state(fresh_demo.port)[path] == before[path]
    # Reading is still allowed: the view, job output and server queries.
    assert reader.sync() is not None and reader.node(POST).state == "aborted"
    assert b"job failed" in reader.read_file(POST, "jobout")
    assert b"Server statistics" in reader.client_text("--stats")


def test_current_user_is_read_only_on_a_server_run_by_someone_else(foreign_server):
    host, port, home = foreign_server
    me = pwd.getpwuid(os.getuid()).pw_name
    write_white_list(host, port, home, f"-{me}")
    server = Server(host, port)
    server.sync()
    with pytest.raises(AccessDenied, match=rf"User {me} has no \*write\* access to paths"):
        run_action(server, "suspend", "/s/f/t")
    assert get_state(port)["/s/f/t"] == ("task", "queued")
    assert server.node("/s/f").kind == "family"  # reading still works
