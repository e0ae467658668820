"""The operator panels of the explorer in a real browser: JupyterLab in Debian's chromium.

One JupyterLab serves the module; each test builds the ecflow_server it needs (a suite
of its own, the generated 1,000-task suite, or the session's demo) and checks what the
page shows against what ``ecflow_client`` and the files on disk say, read here without
ecfnb's code:

- Triggers: what a task waits on (a sibling, a node of another suite, an event) with
  the states ``--get_state`` prints, its parent family's trigger, a node 40 tasks wait
  on (the list says 40, the picture shows 25 and "… 15 more"); clicks on links and
  boxes select the node;
- Log: the server row shows the tail of ECF_LOG, "load more" the older lines, the
  filter narrows, a node shows only the lines naming it (not its sibling ``t2``), new
  lines arrive with no cell re-run, error lines are marked;
- Zombies: a real zombie with its type; Fob and Remove reach the server; a user the
  white list makes read-only is told what the server did with its command (ecFlow 5.9
  carries out a read-only user's zombie commands), a ``read_only=True`` explorer
  offers no action;
- Timeline: a bar for each task the log shows submitted, run counts per task; a click
  on a bar selects the task;
- Table and search: 1,055 nodes counted, sorted, filtered and paged as
  ``--get_state`` has them; a glob typed in the search box (no Enter) finds what
  ``fnmatch`` finds, and "show in tree" selects it;
- every try's output (ECF_TRIES 3) byte for byte, and the job status command's file;
- tree marks: meter, events, repeat, time, cron and limit as ``--get_state`` has
  them, with tooltips, following changes;
- the watch panel's desktop notification: one per abort, not repeated.

After each test its kernels are shut down and the pollers it started must end.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ecfnb import DemoServer

from browser import (
    anchor,
    chromium_page,
    click_tab,
    expander,
    kernels_page,
    open_and_run,
    own_user_lab,
    root_anchor,
    screenshot,
    shut_kernels_down,
    text_lines,
    wait_for_pollers_gone,
    watch_console,
    write_notebook,
)
from conftest import NODE_LINE, get_state, make_read_only, wait_for
from helpers import client, job, job_output, suite_head, task_state


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, as the test's own user (no ECF_USER leaking in)."""
    with own_user_lab(tmp_path_factory.mktemp("panels-lab")) as lab:
        yield lab


@pytest.fixture
def ports() -> list[int]:
    """Ports of the servers a test's notebook polls (its server fixtures add theirs)."""
    return []


@pytest.fixture
def page(lab, ports):
    with kernels_page(lab, ports) as page:
        yield page


@pytest.fixture
def kernels_down(lab, ports):
    """For a test that opens its own page: after it, the lab's kernels shut down and
    their pollers gone."""
    yield
    shut_kernels_down(lab)
    wait_for_pollers_gone(ports)


def serve(ports: list[int], **options):
    """A DemoServer fixture body: started, its port noted, stopped after the test."""
    with DemoServer(**options) as server:
        ports.append(server.port)
        yield server


# -- helpers --------------------------------------------------------------------------------
@contextlib.contextmanager
def shots(page, name: str):
    """A screenshot tests/artifacts/NAME.png at the end, NAME-failed.png on failure."""
    try:
        yield
    except BaseException:
        screenshot(page, f"{name}-failed")
        raise
    screenshot(page, name)


def explore_cell(address: str, **options: object) -> str:
    args = [repr(address), *(f"{name}={value!r}" for name, value in options.items())]
    return f"import ecfnb\nexplorer = ecfnb.explore({', '.join(args)})\nexplorer"


def shown_path(scope, path: str):
    """The panel header's path, exactly ``path`` (``/s/d0`` must not match ``/s/d07``)."""
    return scope.locator(".ecfnb-panel-header code").filter(
        has_text=re.compile(rf"^{re.escape(path)}$"))


def wait_shown(scope, path: str, timeout: float = 20_000) -> None:
    shown_path(scope, path).wait_for(timeout=timeout)


def data(locator, *names: str) -> list[tuple[str, ...]]:
    """The ``data-*`` attributes ``names`` (camelCase) of every element of ``locator``."""
    return [tuple(row) for row in locator.evaluate_all(
        "(els, names) => els.map(e => names.map(n => e.dataset[n]))", list(names))]


def get_state_text(port: int) -> str:
    return client(port, "--get_state").stdout.decode(errors="replace")


def attribute_lines(port: int, path: str) -> list[str]:
    """The attribute lines ``--get_state`` prints for node ``path`` (its own, not its
    children's), comments after ``#`` kept: ``meter prog 0 100 100 # 40``."""
    lines, stack, mine, indent = [], [], False, -1
    for line in get_state_text(port).splitlines():
        match = NODE_LINE.match(line)
        if match:
            depth = len(match.group(1))
            while stack and stack[-1][0] >= depth:
                stack.pop()
            node = (stack[-1][1] if stack else "") + "/" + match.group(3)
            stack.append((depth, node))
            mine, indent = node == path, depth
            continue
        stripped = line.strip()
        if line.startswith(("endsuite", "endfamily")) or stripped in ("endfamily", "endsuite"):
            mine = False
            continue
        if mine and len(line) - len(line.lstrip()) > indent and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def attribute(port: int, path: str, kind: str, name: str | None = None) -> tuple[str, str]:
    """(definition, value after '#') of ``path``'s attribute ``kind name``."""
    for line in attribute_lines(port, path):
        words = line.split()
        if words[0] == kind and (name is None or words[1] == name):
            text, _, comment = line.partition(" # ")
            return text.strip(), comment.strip()
    raise AssertionError(f"no {kind} {name or ''} on {path}: {attribute_lines(port, path)}")


def zombies_now(port: int) -> dict[str, dict[str, str]]:
    """``ecflow_client --zombie_get``: task path -> type, try and user action."""
    out = client(port, "--zombie_get").stdout.decode(errors="replace").splitlines()
    found = {}
    for line in out[1:]:
        words = line.split()
        if len(words) >= 7:
            found[words[0]] = {"type": words[1], "try": words[5], "action": words[6]}
    return found


def log_path(server: DemoServer) -> Path:
    (found,) = server.home.glob("*.ecf.log")
    return found


def log_file_lines(server: DemoServer) -> list[str]:
    """The server log's complete lines, from the file."""
    return log_path(server).read_text(errors="replace").split("\n")[:-1]


LOG_LINE = re.compile(r"^([A-Z]+):\[(\d{1,2}):(\d\d):(\d\d) (\d{1,2})\.(\d{1,2})\.(\d{4})\] ?(.*)$")


def as_shown(raw: str) -> str:
    """A log line as the Log view is to show it: ``YYYY-mm-dd HH:MM:SS KIND text`` in
    UTC. The server runs on this machine, so its stamps are this machine's local time."""
    found = LOG_LINE.match(raw)
    if found is None:
        return raw.rstrip()
    kind, hour, minute, second, day, month, year, text = found.groups()
    local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    return f"{local.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} {kind} {text}".rstrip()


def wait_equal(shown, expected, what: str, timeout: float = 20) -> None:
    """Wait until ``shown()`` equals ``expected()``; else fail showing both."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if shown() == expected():
            return
        time.sleep(0.3)
    assert shown() == expected(), what


def names_node(raw: str, path: str) -> bool:
    """Whether a log line names ``path`` or a node below it (``/s/t2`` is not ``/s/t``)."""
    return re.search(rf"(?:^|[\s:\[(]){re.escape(path)}(?=$|[\s/:,)])", raw) is not None


# -- 1. triggers ----------------------------------------------------------------------------
T1, T2, HELD, H, X = "/trig/f/t1", "/trig/f/t2", "/trig/f/held", "/trig/f/held/h", "/other/x"
HUB = "/trig/fan/hub"
DEPENDANTS = [f"/trig/fan/d{i:02d}" for i in range(1, 41)]
TRIGGERS_DEF = suite_head("trig") + """  family f
    task t1
      event ready
    task t2
      trigger (t1 == complete or t1:ready) and /other/x == complete
    family held
      trigger /other/x == complete
      task h
    endfamily
  endfamily
  family fan
    task hub
      trigger /other/x == complete
""" + "".join(f"    task {p.rsplit('/', 1)[1]}\n      trigger hub == complete\n"
              for p in DEPENDANTS) + "  endfamily\nendsuite\n" + suite_head("other") + \
    "  task x\nendsuite\n"


@pytest.fixture
def triggers_server(ports):
    yield from serve(ports, definition=TRIGGERS_DEF, files={
        "trig/f/t1.ecf": job("ecflow_client --event=ready\n"),
        "other/x.ecf": job("sleep 600\n")})


def test_triggers_waits_on_waited_by_and_the_picture(lab, triggers_server, page):
    port = triggers_server.port
    wait_for(lambda: task_state(port, T1)["state"] == "complete"
             and task_state(port, X)["state"] == "active", timeout=30,
             what="t1 complete and /other/x running")
    states = get_state(port)
    text = get_state_text(port)
    # ecFlow's own evaluation of t2's trigger: the line after its "Trigger Evaluation Tree".
    t2_part = text.split("task t2", 1)[1]
    t2_holds = re.search(r"# Trigger Evaluation Tree\s*\n\s*# \w+ \((true|false)\)", t2_part)
    assert t2_holds and t2_holds.group(1) == "false", t2_part[:600]
    dependants = sum(line.strip() == "trigger hub == complete" for line in text.splitlines())
    assert dependants == 40
    write_notebook(lab, "triggers.ipynb", explore_cell(triggers_server.address, path=T2,
                                                       interval=2))
    with shots(page, "panels-triggers"):
        open_and_run(page, lab, "triggers.ipynb")
        wait_shown(page, T2, timeout=30_000)
        click_tab(page, "Triggers")
        view = page.locator(".ecfnb-triggers-view")

        # t2 waits on its sibling (state and event) and on a node of another suite.
        view.locator(f'.ecfnb-triggers[data-ecf-path="{T2}"]').wait_for(timeout=10_000)
        refs = view.locator("ul.ecfnb-waits-on li.ecfnb-ref")
        found = data(refs, "ecfRef", "state")
        assert sorted(path for path, _ in found) == [X, T1, T1]
        assert all(state == states[path][1] for path, state in found), (found, states)
        assert [states[T1][1], states[X][1]] == ["complete", "active"]
        event_ref = refs.filter(has=page.locator("code", has_text=":ready"))
        assert event_ref.count() == 1 and event_ref.get_attribute("data-ecf-ref") == T1
        other = refs.filter(has=page.locator(f'a[data-ecfnb-arg="{X}"]'))
        assert other.locator(".ecfnb-scope-cross-suite").count() == 1
        assert other.locator(".ecfnb-holds-false").count() == 1  # x is not complete
        expression = view.locator("li.ecfnb-expression")
        assert expression.count() == 1
        assert expression.locator("> code").inner_text() == \
            "(t1 == complete or t1:ready) and /other/x == complete"
        assert expression.locator("> span.ecfnb-holds-false").count() == 1  # as ecFlow says

        # h is held by its parent family's trigger.
        expander(page, HELD).click()
        anchor(page, H).click()
        wait_shown(page, H)
        view.locator(f'.ecfnb-triggers[data-ecf-path="{H}"]').wait_for(timeout=10_000)
        expression = view.locator("li.ecfnb-expression")
        assert expression.count() == 1
        assert f"of parent {HELD}" in expression.inner_text()
        assert expression.locator("> code").inner_text() == "/other/x == complete"
        assert data(view.locator("ul.ecfnb-waits-on li.ecfnb-ref"), "ecfRef", "state") == \
            [(X, states[X][1])]

        # A link to x: what waits on x, each in its state.
        view.locator(f'li.ecfnb-ref[data-ecf-ref="{X}"] a.ecfnb-link').click()
        wait_shown(page, X)
        view.locator(f'.ecfnb-triggers[data-ecf-path="{X}"]').wait_for(timeout=10_000)
        waited = data(view.locator("ul.ecfnb-waited-by li.ecfnb-ref"), "ecfRef", "state")
        assert sorted(waited) == sorted((p, states[p][1]) for p in (T2, HELD, HUB))
        assert view.locator("h4", has_text="Waited on by (3)").count() == 1

        # The hub: 40 dependants listed, 25 drawn and "… 15 more".
        view.locator(f'ul.ecfnb-waited-by li.ecfnb-ref[data-ecf-ref="{HUB}"] a').click()
        wait_shown(page, HUB)
        view.locator(f'.ecfnb-triggers[data-ecf-path="{HUB}"]').wait_for(timeout=10_000)
        assert view.locator("h4", has_text=f"Waited on by ({dependants})").count() == 1
        waited = data(view.locator("ul.ecfnb-waited-by li.ecfnb-ref"), "ecfRef", "state")
        assert sorted(waited) == [(p, states[p][1]) for p in DEPENDANTS]
        assert view.locator("ul.ecfnb-waited-by li.ecfnb-more").count() == 0  # all 40 there
        picture = view.locator("svg.ecfnb-neighbourhood")
        boxes = [p for (p,) in data(picture.locator("g.ecfnb-box"), "ecfPath")]
        drawn = [p for p in boxes if p in DEPENDANTS]
        assert len(drawn) == 25 and len(set(drawn)) == 25, boxes
        assert set(boxes) - set(drawn) == {HUB, X}
        assert picture.locator("text.ecfnb-more").text_content() == "… 15 more"
        edges = data(picture.locator("line.ecfnb-edge"), "from", "to")
        assert sorted(edges) == sorted([(X, HUB)] + [(HUB, p) for p in drawn])
        # hub is not complete, x is not: no edge holds.
        assert picture.locator("line.ecfnb-edge-false").count() == len(edges)

        # A box is a link; two levels around d07 reach x, behind the hub.
        target = drawn[6]
        box = picture.locator(f'g.ecfnb-box[data-ecf-path="{target}"]')
        box.hover()  # the box is outlined, its name stays readable (no stroke on the text)
        assert box.evaluate("g => [getComputedStyle(g.querySelector('rect')).strokeWidth, "
                            "getComputedStyle(g.querySelector('text')).stroke]") == \
            ["1.5px", "none"]
        box.click()
        wait_shown(page, target)
        view.locator(f'.ecfnb-triggers[data-ecf-path="{target}"]').wait_for(timeout=10_000)
        assert data(view.locator("ul.ecfnb-waits-on li.ecfnb-ref"), "ecfRef", "state") == \
            [(HUB, states[HUB][1])]
        assert picture.locator(f'g.ecfnb-box[data-ecf-path="{X}"]').count() == 0
        page.locator(".ecfnb-view-triggers button.widget-toggle-button",
                     has_text="2 levels").click()
        picture.locator(f'g.ecfnb-box[data-ecf-path="{X}"]').wait_for(timeout=10_000)
        assert sorted(data(picture.locator("line.ecfnb-edge"), "from", "to")) == \
            sorted([(X, HUB), (HUB, target)])


# -- 2. the log -----------------------------------------------------------------------------
LOG_DEF = suite_head("lg") + "  task t\n    trigger 1 == 0\n  task t2\n    trigger 1 == 0\n" \
    "endsuite\n"


@pytest.fixture
def log_server(ports):
    yield from serve(ports, definition=LOG_DEF, files={})


def test_log_tail_more_filter_node_and_live_lines(lab, log_server, page):
    """Where the page is wrong, the test goes on with what it can still check, and fails
    at the end naming every difference it saw (``wrong``)."""
    server, port = log_server, log_server.port
    subprocess.run(["bash", "-c", f'for i in $(seq 1 250); do ecflow_client --host localhost '
                    f'--port {port} --msg="filler $i" || exit 1; done'], check=True, timeout=120)
    for args in (("--force=aborted", "/lg/t"), ("--force=aborted", "/lg/t2"),
                 ("--force=queued", "/lg/t2")):
        client(port, *args)
    assert len(log_file_lines(server)) > 250
    write_notebook(lab, "log.ipynb", explore_cell(server.address, interval=30))
    lines = page.locator(".ecfnb-view-log .ecfnb-log-lines pre")
    caption = page.locator(".ecfnb-view-log .ecfnb-log-caption")
    more = page.locator(".ecfnb-view-log button.ecfnb-log-more")
    search = page.locator(".ecfnb-view-log .ecfnb-log-filter input")
    wrong: list[str] = []

    def shown() -> list[str]:
        return [line.rstrip() for line in text_lines(lines)]

    def file_shown(keep=lambda raw: True) -> list[str]:
        return [as_shown(raw) for raw in log_file_lines(server) if keep(raw)]

    def tail_of_file(at_least: int, keep=lambda raw: True):
        """The page shows the file's last lines (those ``keep`` keeps), at least this many."""
        def check():
            page_lines, expected = shown(), file_shown(keep)
            ok = len(page_lines) >= min(at_least, len(expected)) and \
                page_lines == expected[-len(page_lines):]
            return (page_lines, expected) if ok else None
        return wait_for(check, timeout=20, interval=0.3,
                        what="the page's log lines to be the file's last lines")

    def soon(predicate, what: str, timeout: float = 15) -> bool:
        try:
            wait_for(predicate, timeout=timeout, interval=0.3, what=what)
            return True
        except AssertionError:
            wrong.append(what)
            return False

    with shots(page, "panels-log"):
        open_and_run(page, lab, "log.ipynb")
        root_anchor(page).click()
        click_tab(page, "Server")
        click_tab(page, "Log")
        caption.filter(has_text="server log").wait_for(timeout=20_000)

        # The newest 200 lines of ECF_LOG, exactly as the file has them.
        page_lines, expected = tail_of_file(200)
        assert len(page_lines) >= 200 and len(expected) > 250
        assert page_lines[-1] == expected[-1]
        assert str(log_path(server)) in caption.inner_text()

        # Load more: the older lines, up to the start of this log.
        more.click()
        page_lines, expected = tail_of_file(len(expected))
        assert page_lines == expected  # the whole log: it has under 400 lines
        assert expected[0] == as_shown(log_file_lines(server)[0])
        wait_for(more.is_disabled, timeout=10, what="load more disabled at the log's start")
        assert "the start of the log" in caption.inner_text()

        # The filter narrows to the lines containing its text (any case); a new line
        # that passes it appears by itself, one that does not, not.
        search.fill("FILLER 1")
        search.press("Enter")

        def filtered(raw: str) -> bool:
            return "filler 1" in raw.lower()
        if soon(lambda: shown() == file_shown(filtered),
                "the filter 'FILLER 1' (typed, Enter) did not narrow the server log to the "
                f"{len(file_shown(filtered))} lines containing it"):
            assert len(shown()) == 111  # filler 1, 10-19, 100-199
            client(port, "--msg=not shown here")
            client(port, "--msg=filler 1 live")
            soon(lambda: "--msg=filler 1 live" in shown()[-1]
                 and shown() == file_shown(filtered),
                 "a new line passing the filter did not appear in the page")
            assert not any("not shown here" in line for line in shown())
            assert "live" in caption.inner_text()
        search.fill("")
        search.press("Enter")

        # The whole tail; an error line arrives live and is marked.
        tail_of_file(200)
        client(port, "--requeue", "/lg/missing", check=False)
        errors = page.locator(".ecfnb-view-log span.ecfnb-errline")
        errors.filter(has_text="/lg/missing").first.wait_for(timeout=15_000)
        written = [as_shown(raw) for raw in log_file_lines(server)
                   if raw.startswith("ERR:") and "/lg/missing" in raw]
        assert written and set(written) <= {t.rstrip() for t in errors.all_inner_texts()}
        assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (ERR|WAR) ", t)
                   for t in errors.all_inner_texts())

        # A task's Log: the Log tab stays open from the server's row to the task, and
        # shows only the lines naming it (not its sibling t2), new ones live.
        if anchor(page, "/lg/t").count() == 0:
            expander(page, "/lg").click()
        anchor(page, "/lg/t").click()
        wait_shown(page, "/lg/t")
        log_tab = page.locator(".ecfnb-panel-tabs button.mod-active",
                               has_text="Log")
        time.sleep(2)  # the tab bar settles (kernel and browser both set the tab)
        if log_tab.count() == 0:
            current = page.locator(".ecfnb-panel-tabs button.mod-active")
            wrong.append("selecting /lg/t from the server row's Log tab left the Log tab: "
                         f"the current tab is {current.all_inner_texts()}")
            click_tab(page, "Log")
        caption.filter(has_text="lines about /lg/t and below").wait_for(timeout=20_000)

        def about_t(raw: str) -> bool:
            return names_node(raw, "/lg/t")
        wait_equal(shown, lambda: file_shown(about_t), "the lines naming /lg/t")
        page_lines = shown()
        assert any(line.endswith("--force=aborted /lg/t :" + line.rsplit(":", 1)[-1])
                   for line in page_lines), page_lines
        assert any("aborted: /lg/t try-no:" in line for line in page_lines), page_lines
        assert not any("/lg/t2" in line for line in page_lines), page_lines
        assert sum(map(about_t, log_file_lines(server))) == len(page_lines) >= 3
        client(port, "--force=complete", "/lg/t2")
        client(port, "--force=complete", "/lg/t")
        wait_for(lambda: any("complete: /lg/t" in line for line in shown())
                 and shown() == file_shown(about_t), timeout=15,
                 what="the new lines about /lg/t")
        assert not any("/lg/t2" in line for line in shown())
    assert not wrong, "the Log view differs from the server:\n- " + "\n- ".join(wrong)


# -- 3. zombies -----------------------------------------------------------------------------
ZOMBIE = "/zz/z"
ZOMBIES_DEF = suite_head("zz") + "  task z\n  task calm\n    trigger 1 == 0\nendsuite\n"


@pytest.fixture
def zombie_server(ports):
    yield from serve(ports, definition=ZOMBIES_DEF, files={"zz/z.ecf": job("sleep 600\n")})


def test_zombies_listed_acted_on_and_hidden_when_read_only(lab, zombie_server, page):
    server, port = zombie_server, zombie_server.port
    wait_for(lambda: task_state(port, ZOMBIE)["state"] == "active", timeout=30,
             what=f"{ZOMBIE} running")
    client(port, "--force=complete", ZOMBIE)  # its job still runs: a user zombie
    zombie = wait_for(lambda: zombies_now(port).get(ZOMBIE), timeout=20, what="a zombie")
    assert zombie["type"] == "user" and zombie["action"] == "auto-block", zombie
    assert "zombie" in task_state(port, ZOMBIE)["flag"].split(",")
    env = make_read_only(server)
    host = server.host
    write_notebook(
        lab, "zombies.ipynb",
        f"import ecfnb\nwriter = ecfnb.explore({server.address!r}, interval=2)\nwriter",
        f"locked = ecfnb.explore({server.address!r}, read_only=True)\nlocked",
        f"reader = ecfnb.explore(ecfnb.Server({host!r}, {port}, user={env['ECF_USER']!r}, "
        f"password_file={env['ECF_CUSTOM_PASSWD']!r}))\nreader")
    with shots(page, "panels-zombies"):
        open_and_run(page, lab, "zombies.ipynb")
        explorers = page.locator(".ecfnb-explorer")
        wait_for(lambda: explorers.count() == 3, timeout=30, what="three explorers")
        writer, locked, reader = (explorers.nth(i) for i in range(3))
        for scope in (writer, locked, reader):
            root_anchor(scope).click()
            click_tab(scope, "Zombies")
            scope.locator(f'tr.ecfnb-zombie[data-ecf-path="{ZOMBIE}"]').wait_for(
                timeout=20_000)

        # What the writer's page says of it is what --zombie_get says.
        row = writer.locator(f'tr.ecfnb-zombie[data-ecf-path="{ZOMBIE}"]')
        cells = [t.strip() for t in row.locator("td").all_inner_texts()]
        assert cells[0] == ZOMBIE and cells[1] == zombie["type"] and cells[3] == zombie["try"]
        assert cells[2] == zombie["action"]
        if anchor(writer, ZOMBIE).count() == 0:
            expander(writer, "/zz").click()
        anchor(writer, ZOMBIE).locator('[data-ecf-mark="flag:zombie"]').wait_for(
            timeout=10_000)

        # read_only=True: the zombie is listed, no action offered.
        assert locked.locator(".ecfnb-zombies-view a[class*='ecfnb-zombie-']").count() == 0

        # Fob, confirmed: the server fobs it.
        writer.locator("a.ecfnb-zombie-fob").click()
        confirm = writer.locator(".ecfnb-panel-confirm")
        confirm.filter(has_text=f"Fob the zombie of {ZOMBIE}?").wait_for(timeout=10_000)
        confirm.locator("button.ecfnb-panel-yes").click()
        message = writer.locator(".ecfnb-panel-message")
        message.filter(has_text=f"The zombie of {ZOMBIE} is fobbed").wait_for(timeout=20_000)
        after = zombies_now(port)[ZOMBIE]
        assert after["action"] == "manual-fob", after
        row.locator("td", has_text=after["action"]).wait_for(timeout=10_000)  # redrawn

        # A user the white list makes read-only: the page says what the server did. (The
        # server decides: ecFlow 5.9 refuses such a user's node commands but carries out
        # its zombie commands; a server that refuses must have its text shown.)
        before = len(log_file_lines(server))
        reader.locator("a.ecfnb-zombie-fail").click()
        asked = reader.locator(".ecfnb-panel-confirm")
        asked.filter(has_text=f"Fail the zombie of {ZOMBIE}?").wait_for(timeout=10_000)
        asked.locator("button.ecfnb-panel-yes").click()
        said = reader.locator(".ecfnb-panel-message")
        said.locator("span").first.wait_for(timeout=20_000)
        wait_for(lambda: said.inner_text().strip(), timeout=20, what="the reader's outcome")
        new_lines = log_file_lines(server)[before:]
        asked_line = [i for i, raw in enumerate(new_lines)
                      if f"--zombie_fail={ZOMBIE} :{env['ECF_USER']}@" in raw]
        assert asked_line, new_lines  # the request reached the server as that user
        refusal = [raw for raw in new_lines[asked_line[0] + 1:asked_line[0] + 3]
                   if raw.startswith("ERR:") and "access" in raw]
        if refusal:
            assert "no *write* access" in said.inner_text()
            assert "refused" in said.inner_text()
            assert zombies_now(port)[ZOMBIE]["action"] == "manual-fob"
        else:
            assert said.inner_text().strip() == f"The zombie of {ZOMBIE} will fail its job."
            assert zombies_now(port)[ZOMBIE]["action"] == "manual-fail"
        print(f"a read-only user's zombie command was {'refused' if refusal else 'done'}")

        # Remove, confirmed: gone from the server's list and from the page.
        writer.locator("a.ecfnb-zombie-remove").click()
        confirm.filter(has_text=f"Remove the zombie of {ZOMBIE}").wait_for(timeout=10_000)
        confirm.locator("button.ecfnb-panel-yes").click()
        message.filter(has_text=f"Removed the zombie of {ZOMBIE}").wait_for(timeout=20_000)
        assert ZOMBIE not in zombies_now(port)
        writer.locator(".ecfnb-no-zombies").wait_for(timeout=10_000)
        assert row.count() == 0


# -- 4. timeline ----------------------------------------------------------------------------
SUBMITTED = re.compile(r"^LOG:\[[^\]]+\]\s+submitted: (\S+) job_size:")
ABORTED_RUN = re.compile(r"^LOG:\[[^\]]+\]\s+aborted: (\S+) try-no:")


def test_timeline_bars_durations_and_click(lab, demo, ports, page):
    ports.append(demo.port)
    write_notebook(lab, "timeline.ipynb", explore_cell(demo.address, path="/demo",
                                                       interval=5))
    with shots(page, "panels-timeline"):
        open_and_run(page, lab, "timeline.ipynb")
        wait_shown(page, "/demo", timeout=30_000)
        click_tab(page, "Timeline")
        view = page.locator(".ecfnb-timeline-view")
        view.locator("svg.ecfnb-timeline").wait_for(timeout=20_000)
        log = log_file_lines(demo)
        submitted = Counter(m.group(1) for m in map(SUBMITTED.match, log)
                            if m and m.group(1).startswith("/demo/"))
        aborted = Counter(m.group(1) for m in map(ABORTED_RUN.match, log)
                          if m and m.group(1).startswith("/demo/"))
        assert {"/demo/prepare/fetch_obs", "/demo/forecast/model", "/demo/forecast/post",
                "/demo/cycle/step"} <= set(submitted), submitted
        assert submitted["/demo/cycle/step"] == 3  # the repeat ran it three times

        bars = {p for (p,) in data(view.locator("svg.ecfnb-timeline rect.ecfnb-run"),
                                   "ecfnbArg")}
        assert bars == set(submitted), (bars, submitted)
        rows = view.locator("table.ecfnb-durations tr.ecfnb-duration")
        runs = {}
        for i in range(rows.count()):
            cells = [t.strip() for t in rows.nth(i).locator("td").all_inner_texts()]
            runs[rows.nth(i).get_attribute("data-ecf-path")] = (int(cells[1]), int(cells[2]))
        assert runs == {p: (n, aborted[p]) for p, n in submitted.items()}, runs
        assert runs["/demo/forecast/post"][1] == 1

        # The last part of a bar is on top (a run's submitted part may lie under it).
        view.locator('svg.ecfnb-timeline rect.ecfnb-run'
                     '[data-ecfnb-arg="/demo/forecast/model"]').last.click()
        wait_shown(page, "/demo/forecast/model")
        # (the tree marks its selection on its own redraw, a moment after the panel's)
        selected = page.locator(".ecfnb-tree li.ecfnb-tree-selected > span.ecfnb-tree-anchor "
                                'span[data-ecf-path="/demo/forecast/model"]')
        selected.wait_for(timeout=10_000)
        assert selected.count() == 1


# -- 5. table and search --------------------------------------------------------------------
@pytest.fixture
def generated(ports):
    yield from serve(ports, tasks=1000)


def since_times(port: int, under: str) -> list[str]:
    """Each node's state-change time under ``under``, from ecFlow's own Python client."""
    import ecflow

    c = ecflow.Client("localhost", port)
    c.sync_local()
    return [n.get_state_change_time().replace("T", " ") for n in c.get_defs().get_all_nodes()
            if n.get_abs_node_path().startswith(under + "/")]


def test_table_sorts_filters_pages_and_search_finds(lab, generated, page):
    port, base = generated.port, "/gen00"
    states = get_state(port)
    nodes = sorted((p, s) for p, (_kind, s) in states.items() if p.startswith(base + "/"))
    assert len(nodes) == 1055  # 5 + 50 families, 1,000 tasks
    write_notebook(lab, "table.ipynb", explore_cell(generated.address, path=base, interval=10))
    view = page.locator(".ecfnb-table-view")
    count = view.locator(".ecfnb-table-count")

    def rows() -> list[tuple[str, str]]:
        return data(view.locator("tr.ecfnb-row"), "ecfPath", "state")

    def at(first: int, last: int, total: int) -> None:
        count.filter(has_text=f"rows {first}–{last} of {total} ").wait_for(timeout=20_000)

    wrong: list[str] = []  # what the page gets wrong; the test goes on, then fails

    with shots(page, "panels-table"):
        open_and_run(page, lab, "table.ipynb")
        wait_shown(page, base, timeout=30_000)
        click_tab(page, "Table")
        at(1, 100, len(nodes))
        assert rows() == nodes[:100]

        view.locator("a.ecfnb-next").click()
        at(101, 200, len(nodes))
        assert rows() == nodes[100:200]
        view.locator("a.ecfnb-prev").click()
        at(1, 100, len(nodes))

        head = view.locator('th[data-ecfnb-op="sort"][data-ecfnb-arg="state"]')
        head.click()
        view.locator("th", has_text="state ▲").wait_for(timeout=10_000)
        by_state = sorted(nodes, key=lambda n: (n[1], n[0]))
        assert rows() == by_state[:100]
        head.click()
        view.locator("th", has_text="state ▼").wait_for(timeout=10_000)
        assert rows() == sorted(nodes, key=lambda n: (n[1], n[0]), reverse=True)[:100]

        view.locator('th[data-ecfnb-arg="since"]').click()
        view.locator("th", has_text="since ▼").wait_for(timeout=10_000)
        shown_since = [t.strip() for t in view.locator("tr.ecfnb-row td:nth-child(3)")
                       .all_inner_texts()]
        assert shown_since == sorted(shown_since, reverse=True)
        assert shown_since[0] == max(since_times(port, base))

        filters = page.locator(".ecfnb-view-table")
        filters.locator(".ecfnb-table-state select").select_option("aborted")
        aborted = sorted(p for p, s in nodes if s == "aborted")
        assert 0 < len(aborted) < 100
        at(1, len(aborted), len(aborted))
        assert sorted(p for p, _ in rows()) == aborted
        assert {s for _, s in rows()} == {"aborted"}
        filters.locator(".ecfnb-table-text input").press_sequentially("g01", delay=50)
        aborted_g01 = [p for p in aborted if "g01" in p]
        assert aborted_g01
        at(1, len(aborted_g01), len(aborted_g01))
        assert sorted(p for p, _ in rows()) == aborted_g01

        # "changed": it first says "any time"; "last 10 minutes" keeps the nodes whose
        # state changed since then (all of this suite, loaded a moment ago).
        filters.locator(".ecfnb-table-state select").select_option(label="any state")
        filters.locator(".ecfnb-table-text input").fill("")
        at(1, 100, len(nodes))
        within = filters.locator(".ecfnb-table-within select")
        choice = within.evaluate("s => s.selectedIndex < 0 ? '' : "
                                 "s.options[s.selectedIndex].text").replace("\xa0", " ")
        if choice != "any time":  # (ipywidgets draws an option's spaces as no-break ones)
            wrong.append(f'the "changed" filter shows {choice!r}, not "any time", while it '
                         "keeps every row")
        within.select_option(label="last 10 minutes")
        since = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime(
            "%Y-%m-%d %H:%M:%S")
        recent = sum(t >= since for t in since_times(port, base))
        assert recent == len(nodes)
        at(1, 100, recent)

        # The search box: a glob typed, no Enter.
        pattern = "t00*"
        matches = [p for p in states if fnmatch.fnmatchcase(p.rsplit("/", 1)[1].lower(),
                                                            pattern)]
        assert len(matches) == 500
        page.locator(".ecfnb-search-box .ecfnb-find-name input").press_sequentially(
            pattern, delay=60)
        results = page.locator(".ecfnb-search-view")
        results.locator(".ecfnb-search-server", has_text="match(es)").wait_for(
            timeout=20_000)
        said = results.locator(".ecfnb-search-server").inner_text()
        assert re.search(r": (\d+) match\(es\)", said).group(1) == str(len(matches)), said
        hits = [p for (p,) in data(results.locator("li.ecfnb-search-hit"), "ecfPath")]
        assert hits == matches[:200]  # the first 200, in tree order
        assert "the first 200 shown" in said
        chosen = hits[7]
        results.locator(f'li.ecfnb-search-hit[data-ecf-path="{chosen}"] a.ecfnb-show').click()
        wait_shown(page, chosen)
        page.locator(".ecfnb-tree li.ecfnb-tree-selected > span.ecfnb-tree-anchor "
                     f'span[data-ecf-path="{chosen}"]').wait_for(timeout=10_000)
    assert not wrong, "the table differs from the server:\n- " + "\n- ".join(wrong)


# -- 6. every try's output and the job status -----------------------------------------------
FLAKY, LONG = "/tr/flaky", "/tr/long"
TRIES_DEF = suite_head("tr", tries=3) + """  task flaky
  task long
    edit ECF_STATUS_CMD 'echo status %ECF_NAME% rid %ECF_RID% >%ECF_JOB%.stat 2>&1'
endsuite
"""
FLAKY_JOB = job("""echo "output of %ECF_NAME% try %ECF_TRYNO%: marker-%ECF_TRYNO%"
if [ %ECF_TRYNO% -lt 3 ]; then
  echo "ERROR: try %ECF_TRYNO% fails"
  ecflow_client --abort="failed on try %ECF_TRYNO%"
  exit 0
fi
""")


@pytest.fixture
def tries_server(ports):
    yield from serve(ports, definition=TRIES_DEF,
                     files={"tr/flaky.ecf": FLAKY_JOB, "tr/long.ecf": job("sleep 600\n")},
                     server_args=("--ecfinterval", "2"))


def test_every_tries_output_and_the_job_status(lab, tries_server, page):
    server, port = tries_server, tries_server.port
    wait_for(lambda: task_state(port, FLAKY).get("state") == "complete"
             and task_state(port, FLAKY).get("try") == "3", timeout=90,
             what="flaky complete on try 3")
    wait_for(lambda: task_state(port, LONG).get("state") == "active", timeout=30,
             what="long running")
    outputs = {n: job_output(server.home, FLAKY, n).decode() for n in (1, 2, 3)}
    assert all(f"marker-{n}" in outputs[n] for n in (1, 2, 3))
    write_notebook(lab, "tries.ipynb", explore_cell(server.address, path=FLAKY, interval=2))
    output = page.locator(".ecfnb-tab-output pre")
    pick = page.locator(".ecfnb-panel-try select")

    def output_is(text: str) -> None:
        page.wait_for_function(
            "t => document.querySelector('.ecfnb-tab-output pre')?.innerText === t",
            arg=text.rstrip("\n"), timeout=15_000)

    with shots(page, "panels-tries"):
        open_and_run(page, lab, "tries.ipynb")
        wait_shown(page, FLAKY, timeout=30_000)
        click_tab(page, "Output")
        output_is(outputs[3])
        assert pick.is_visible()
        assert [t.replace("\xa0", " ").strip()
                for t in pick.locator("option").all_inner_texts()] == \
            ["try 3 (current)", "try 2", "try 1"]
        for try_no in (1, 2):
            pick.select_option(label=f"try {try_no}")
            output_is(outputs[try_no])
            assert output.inner_text() == outputs[try_no].rstrip("\n")
            assert f"ERROR: try {try_no} fails" in \
                page.locator(".ecfnb-tab-output span.ecfnb-errline").all_inner_texts()
            assert f"try {try_no} (an earlier try)" in \
                page.locator(".ecfnb-panel-text.ecfnb-tab-output").locator(
                    "xpath=..").inner_text()
        pick.select_option(label="try 3 (current)")
        output_is(outputs[3])

        # The job status of the running task: what its ECF_STATUS_CMD wrote.
        stat = Path(f"{server.home}/tr/long.job{task_state(port, LONG)['try']}.stat")
        assert not stat.exists()
        anchor(page, LONG).click()
        wait_shown(page, LONG)
        status = page.locator("button.ecfnb-panel-status")
        status.wait_for(timeout=10_000)
        assert pick.is_hidden()  # one try only
        status.click()
        shown = page.locator(".ecfnb-panel-job-status pre")
        shown.wait_for(timeout=20_000)
        wait_for(stat.exists, timeout=10, what="the .stat file")
        rid = task_state(port, LONG)["rid"]
        assert stat.read_text() == f"status {LONG} rid {rid}\n"
        assert shown.inner_text().rstrip("\n") == stat.read_text().rstrip("\n")


# -- 7. tree marks --------------------------------------------------------------------------
MARKS_DEF = suite_head("mk") + """  limit lim 3
  family f
    inlimit lim
    task m
      meter prog 0 100 100
      event ev1
      event ev2
  endfamily
  family held
    trigger /mk/f/m == complete
    family rep
      repeat integer N 1 5
      task rt
    endfamily
    task tm
      time 03:00
    task cr
      cron 23:00
  endfamily
endsuite
"""


@pytest.fixture
def marks_server(ports):
    yield from serve(ports, definition=MARKS_DEF, files={"mk/f/m.ecf": job(
        "ecflow_client --meter=prog 40\necflow_client --event=ev1\nsleep 600\n")})


def test_tree_marks_are_the_servers_values(lab, marks_server, page):
    port = marks_server.port
    wait_for(lambda: attribute(port, "/mk/f/m", "meter", "prog")[1] == "40"
             and attribute(port, "/mk/f/m", "event", "ev1")[1] == "set", timeout=30,
             what="the job's meter and event")
    client(port, "--alter=change", "repeat", "3", "/mk/held/rep")
    assert attribute(port, "/mk/held/rep", "repeat")[1] == "3"
    write_notebook(lab, "marks.ipynb", explore_cell(marks_server.address, path="/mk/f/m",
                                                    interval=1))

    def mark(path: str, key: str):
        return anchor(page, path).locator(f'[data-ecf-mark="{key}"]')

    def value_of(path: str, key: str) -> str:
        return mark(path, key).get_attribute("data-value")

    with shots(page, "panels-marks"):
        open_and_run(page, lab, "marks.ipynb")
        wait_shown(page, "/mk/f/m", timeout=30_000)
        if anchor(page, "/mk/held/tm").count() == 0:
            expander(page, "/mk/held").click()
        mark("/mk/held/tm", "time:time").wait_for(timeout=10_000)

        meter = mark("/mk/f/m", "meter:prog")
        assert value_of("/mk/f/m", "meter:prog") == attribute(port, "/mk/f/m", "meter")[1]
        low, high = (float(w) for w in attribute(port, "/mk/f/m", "meter")[0].split()[2:4])
        width = round(100 * (40 - low) / (high - low))
        assert f"width:{width}%" in meter.locator(".ecfnb-meter-fill").get_attribute("style")
        for name in ("ev1", "ev2"):
            said = attribute(port, "/mk/f/m", "event", name)[1] or "clear"
            assert value_of("/mk/f/m", f"event:{name}") == said
        assert value_of("/mk/f/m", "event:ev1") == "set"
        assert mark("/mk/f/m", "event:ev1").inner_text().startswith("●")
        assert mark("/mk/f/m", "event:ev2").inner_text().startswith("○")
        assert value_of("/mk/held/rep", "repeat:N") == \
            attribute(port, "/mk/held/rep", "repeat")[1] == "3"
        time_text = attribute(port, "/mk/held/tm", "time")[0]  # 'time 03:00'
        assert value_of("/mk/held/tm", "time:time") == time_text.split(" ", 1)[1]
        cron_text = attribute(port, "/mk/held/cr", "cron")[0]
        assert value_of("/mk/held/cr", "cron:cron") == cron_text.split(" ", 1)[1]
        definition, users = attribute(port, "/mk", "limit", "lim")  # 'limit lim 3', '1 /mk/f/m'
        assert value_of("/mk", "limit:lim") == f"{users.split()[0]}/{definition.split()[2]}"
        assert value_of("/mk", "limit:lim") == "1/3"
        for path, key in (("/mk/f/m", "meter:prog"), ("/mk/f/m", "event:ev1"),
                          ("/mk/f/m", "event:ev2"), ("/mk/held/rep", "repeat:N"),
                          ("/mk/held/tm", "time:time"), ("/mk/held/cr", "cron:cron"),
                          ("/mk", "limit:lim")):
            assert (mark(path, key).get_attribute("title") or "").strip(), (path, key)

        # The marks follow the server.
        client(port, "--alter=change", "meter", "prog", "70", "/mk/f/m")
        client(port, "--alter=change", "event", "ev2", "set", "/mk/f/m")
        page.locator('.ecfnb-tree [data-ecf-mark="meter:prog"][data-value="70"]').wait_for(
            timeout=15_000)
        page.locator('.ecfnb-tree [data-ecf-mark="event:ev2"][data-value="set"]').wait_for(
            timeout=15_000)
        assert attribute(port, "/mk/f/m", "meter")[1] == "70"
        assert attribute(port, "/mk/f/m", "event", "ev2")[1] == "set"
        assert "width:70%" in meter.locator(".ecfnb-meter-fill").get_attribute("style")


# -- 8. desktop notifications ---------------------------------------------------------------
NOTIFY_DEF = suite_head("nt") + "  task a\n    trigger 1 == 0\n  task b\n    trigger 1 == 0\n" \
    "endsuite\n"
#: Records each notification the page creates (after the real one was made).
RECORD_NOTIFICATIONS = """
window.__notes = [];
(() => {
  const Real = window.Notification;
  if (!Real) return;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({title, body: (options || {}).body, tag: (options || {}).tag});
    }
  }
  window.Notification = Recorded;
})();
"""


@pytest.fixture
def notify_server(ports):
    yield from serve(ports, definition=NOTIFY_DEF, files={})


def test_one_desktop_notification_per_abort(lab, notify_server, kernels_down):
    server, port = notify_server, notify_server.port
    write_notebook(lab, "notify.ipynb",
                   f"import ecfnb\npanel = ecfnb.watch({server.address!r}, interval=1)\npanel")

    def aborted_lines(path: str) -> int:
        return sum(bool(re.match(rf"LOG:\[[^\]]+\]\s+aborted: {re.escape(path)} ", raw))
                   for raw in log_file_lines(server))

    with chromium_page(permissions=["notifications"], origin=lab.url,
                       init_script=RECORD_NOTIFICATIONS) as page, shots(page, "panels-notify"):
        watch_console(page)
        open_and_run(page, lab, "notify.ipynb", widget=".ecfnb-watch")
        page.locator(".ecfnb-watch .ecfnb-watch-status").filter(has_text="connected").wait_for(
            timeout=60_000)
        page.locator('.ecfnb-notifier span[data-permission="granted"]').wait_for(
            timeout=10_000)
        assert page.evaluate("Notification.permission") == "granted"

        def notes() -> list[dict]:
            return page.evaluate("window.__notes")

        assert notes() == []
        client(port, "--force=aborted", "/nt/a")
        assert task_state(port, "/nt/a")["state"] == "aborted"
        wait_for(lambda: len(notes()) >= 1, timeout=15, what="a desktop notification")
        time.sleep(3)  # three more polls see the same abort
        (note,) = notes()
        assert note["title"] == "ecFlow: /nt/a aborted", note
        try_no = task_state(port, "/nt/a").get("try", "0")
        assert note["body"].startswith(f"{server.address} · try {try_no} · "), note

        # Forced aborted again: ecFlow records no new abort (no log line), nor does the page.
        client(port, "--force=aborted", "/nt/a")
        time.sleep(3)
        assert aborted_lines("/nt/a") == 1
        assert len(notes()) == 1, notes()

        # Another task's abort is another notification.
        client(port, "--force=aborted", "/nt/b")
        wait_for(lambda: len(notes()) >= 2, timeout=15, what="the second notification")
        time.sleep(2)
        assert [n["title"] for n in notes()] == ["ecFlow: /nt/a aborted",
                                                 "ecFlow: /nt/b aborted"]
        assert notes()[0]["tag"] != notes()[1]["tag"]
        assert page.locator(".ecfnb-watch-event").count() == 2
