"""Attributes complete and text escaped everywhere: every attribute kind's ``.att`` lines
equal ``ecflow_client --get``; a hostile label cannot break out of the incident's
Markdown; a real abort reason full of terminal escapes reaches no terminal raw; a job
output that is not UTF-8 opens as text in JupyterLab's sidebar view."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import fsspec
import pytest

from ecfnb import DemoServer, FileSystemMap, Server, event_message, incident, jupyterfs_config

from helpers import client, job, suite_head, task_state, wait_until

EVERY_ATTRIBUTE = """suite every
  edit ECF_HOME '{home}'
  edit V 'x'
  limit L 5
  autocancel +01:00
  clock real
  family f
    defstatus suspended
    late -s +00:15 -a 20:00 -c +02:00
    repeat date YMD 20260101 20261231 1
    inlimit L
    autoarchive +02:00
    task t
      complete c == complete
      complete -a d == aborted
      trigger a == complete
      trigger -o b == complete
      label l "v"
      meter m 0 10 5
      event 1 e
      event 2
      time 10:00
      today 11:00
      date 1.*.*
      day monday
      cron 12:00
      cron -w 0,1 10:00
      zombie ecf:fob::
      zombie user:fail:init,complete:
      verify complete:3
      queue q 001 002 003
      generic g a b c
    task a
      repeat integer N 1 9 2
      edit W 'y'
    task b
      repeat enumerated E "p" "q"
    task c
      repeat string S "s1" "s2"
    task d
      repeat day 1
  endfamily
endsuite
"""
HEADER = re.compile(r"^(\s*)(suite|family|task|alias) (\S+)\s*$")


def own_lines_from_get(text: str) -> dict[str, list[str]]:
    """Per node path, its header and own attribute lines in ``--get``'s output (indented
    two under the header), parsed here without ecfnb."""
    nodes: dict[str, list[str]] = {}
    stack: list[tuple[int, str]] = []
    current: str | None = None
    for line in text.splitlines():
        found = HEADER.match(line)
        if found:
            indent = len(found.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = (stack[-1][1] if stack else "") + "/" + found.group(3)
            stack.append((indent, path))
            current = path
            nodes[path] = [f"{found.group(2)} {found.group(3)}"]
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "end")) or current is None:
            if stripped.startswith("end"):
                current = None
            continue
        indent = len(line) - len(line.lstrip())
        if indent == stack[-1][0] + 2:
            nodes[current].append(line[stack[-1][0]:])
    return nodes


def test_att_lines_equal_ecflow_client_get_for_every_attribute_kind():
    with DemoServer(definition=EVERY_ATTRIBUTE) as server:
        got = client(server.port, "--get", "/every").stdout.decode()
        expected = own_lines_from_get(got)
        assert len(expected) == 7 and any("zombie" in line for line in expected["/every/f/t"])
        srv = Server(server.host, server.port)
        fsmap = FileSystemMap(srv)
        for path, lines in expected.items():
            att = fsmap.read(path + ".att").decode().splitlines()
            head, *rest = att
            assert head.split("  #")[0] == lines[0], path
            definition = [line for line in rest if not line.lstrip().startswith("#")]
            assert definition == lines[1:], path
        t = fsmap.read("/every/f/t.att").decode()
        for kind in ("zombie", "verify", "queue", "generic", "trigger -o", "complete -a",
                     "cron -w"):
            assert f"  {kind} " in t
        assert "  autoarchive +02:00" in fsmap.read("/every/f.att").decode()
        assert "# now: meter m 0" in t  # the live value, as a comment


HOSTILE = "x` <img src=x onerror=alert(5)> `y <b>bold</b> | cell"


def test_incident_markdown_keeps_a_hostile_label_inert(fresh_demo):
    mistune = pytest.importorskip("mistune")
    fresh_demo.client("--alter=change", "label", "info", HOSTILE, "/demo/prepare/fetch_obs")
    record = incident("/demo/prepare/fetch_obs", Server(fresh_demo.host, fresh_demo.port))
    assert any(value == HOSTILE for _kind, _name, value in record.attributes)
    rendered = mistune.html(record.to_markdown())
    assert "<img" not in rendered and "<b>" not in rendered
    assert "onerror=alert(5)" in rendered  # kept, as text
    html = record.to_html()
    assert "<img src=x" not in html and "&lt;img src=x" in html


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred"
ANSI_JOB = job("""
ecflow_client --abort=$'\\e]0;pwned\\a\\e[2J\\e[31mred'
exit 0
""")


def test_terminal_escapes_in_a_real_abort_reason_reach_no_terminal_raw():
    definition = suite_head("esc") + "  task t\nendsuite\n"
    with DemoServer(definition=definition, files={"esc/t.ecf": ANSI_JOB}) as server:
        wait_until(lambda: task_state(server.port, "/esc/t").get("state") == "aborted",
                   what="the job to abort")
        srv = Server(server.host, server.port)
        srv.sync()
        # The server's text as it keeps it (ecFlow turns ';' into ' '), escapes and all.
        assert srv.node("/esc/t").aborted_reason == ESCAPES.replace(";", " ")
        fsmap = FileSystemMap(srv)
        for name in ("/esc/t.abo", "/esc/t.att", "/esc.abo", "/esc/t.why"):
            data = fsmap.read(name)
            assert b"\x1b" not in data and b"\x07" not in data, name
        assert b"\\x1b]0 pwned\\x07\\x1b[2J" in fsmap.read("/esc/t.abo")
        once = subprocess.run([sys.executable, "-m", "ecfnb", "watch", server.address,
                               "--once"], capture_output=True, timeout=60)
        assert b"ABORTED /esc/t" in once.stdout
        assert b"\x1b" not in once.stdout + once.stderr and b"\x07" not in once.stdout
        from ecfnb import AbortEvent

        event = AbortEvent(server.address, "/esc/t", srv.node("/esc/t").since, 1, ESCAPES,
                           "output \x1b[2J\n")
        mail = event_message(event, ["ops@example.org"], "ecfnb@localhost").as_string()
        assert "\x1b" not in mail and "\x07" not in mail


def test_a_latin1_job_output_opens_as_text_for_the_sidebar(demo):
    raw = (demo.home / "demo" / "prepare" / "fetch_obs.1").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the demo's output really is Latin-1
    resource = jupyterfs_config({"d": demo.address})["JupyterFs"]["resources"][0]
    kwargs = json.loads(resource["kwargs"])
    fs, _root = fsspec.core.url_to_fs(resource["url"], **kwargs)
    text = fs.cat("/demo/prepare/fetch_obs.out").decode("utf-8")  # jupyter-fs does this
    assert "station list: M\ufffdnchen" in text
    exact = fsspec.filesystem("ecflow", host="localhost", port=demo.port)
    assert exact.cat("/demo/prepare/fetch_obs.out") == raw  # fsspec itself: byte-exact
