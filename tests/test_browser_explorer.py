"""The explorer (ecfnb.explore) in a real browser: JupyterLab in Debian's chromium.

One JupyterLab serves the module, with ECF_HOST/ECF_PORT pointing at a demo server of
its own (the tests change states on it, so the session ``demo`` is left alone):

- notebooks/explore.ipynb is run with Run All: the jsTree shows the demo suite in its
  state colours; clicks on expanders, nodes and the Output tab show the aborted task's
  real job output with its error line marked; a lazy family opens; a state forced from
  outside reaches the page by the 5 s refresh alone, no cell re-run;
- a label and a job output line holding ``<img onerror>`` are shown as text, never run;
- a read-only user (server white list) is refused by the server and the panel says so;
  ``read_only=True`` shows disabled action buttons;
- the open panel follows its node: the confirmation bar's buttons show their whole
  text, a 3,000-character output line wraps inside the panel, the server's own row
  shows the server and only server commands, and a running job's Output grows in
  the page as the job writes it.

After each test its kernels are shut down and the explorer's polling process must end.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ecfnb import STATE_COLOURS, DemoServer, FileSystemMap, Server

from browser import (
    NOTEBOOK_SETTINGS,
    anchor,
    chromium_page,
    click_tab,
    expander,
    kernel_processes,
    node_span,
    open_and_run,
    prompts,
    require_chromium,
    root_anchor,
    screenshot,
    shut_kernels_down,
    start_lab,
    stop_lab,
    text_lines,
    wait_for_processes_gone,
    write_notebook,
)
from conftest import get_state, make_read_only, wait_for

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
POST = "/demo/forecast/post"
MODEL = "/demo/forecast/model"
REPORT = "/demo/forecast/report"
FETCH = "/demo/prepare/fetch_obs"
NIGHTLY = "/demo/housekeeping/nightly"
PROGRESS = "/demo/monitor/progress"
LONG_MARKER = "TAIL-OF-LONG-LINE"
#: The panel's buttons (class ecfnb-action-NAME) for nodes, and for the server's own row.
NODE_ACTIONS = ("requeue", "rerun", "suspend", "resume", "complete", "kill")
SERVER_ACTIONS = ("restart", "shutdown", "halt", "checkpoint")
XSS = '<img src=x onerror="window.__xss=1">'
ERRLINE_BACKGROUND = "rgb(255,235,238)"  # .ecfnb-errline's #ffebee



# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def explore_demo():
    """This module's own demo server: the notebook's ECF_HOST/ECF_PORT; states change."""
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="module")
def lab(explore_demo, tmp_path_factory):
    """One JupyterLab for the module; its kernels inherit ECF_HOST/ECF_PORT, as under
    ``make demo``. explore.ipynb is copied into its root (a lab autosaves what it runs)."""
    require_chromium()
    root = tmp_path_factory.mktemp("explorer-lab")
    shutil.copy(NOTEBOOKS / "explore.ipynb", root / "explore.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECF_HOST", explore_demo.host)
        patch.setenv("ECF_PORT", str(explore_demo.port))
        for name in ("ECF_USER", "ECF_CUSTOM_PASSWD"):
            patch.delenv(name, raising=False)
        lab = start_lab(root, user_settings=NOTEBOOK_SETTINGS)  # copies the environment
    try:
        yield lab
    finally:
        stop_lab(lab)


@pytest.fixture
def page(request, lab, explore_demo):
    """A chromium page; afterwards the lab's kernels are shut down, and the explorers'
    polling processes (of this module's servers) must end with them."""
    ports = [explore_demo.port]
    if "fresh_demo" in request.fixturenames:  # set up before this fixture: still running
        ports.append(request.getfixturevalue("fresh_demo").port)
    with chromium_page() as page:
        yield page
    started = kernel_processes(lab)  # a forked poller too, whose command line is the kernel's
    shut_kernels_down(lab)
    wait_for(lambda: tree_pollers(ports) == [], timeout=15,
             what="the explorer's tree_poller processes to end with the kernel")
    wait_for_processes_gone(list(started))


# -- helpers --------------------------------------------------------------------------------
def tree_pollers(ports: list[int]) -> list[str]:
    """Command lines of the explorer's polling processes watching one of ``ports``."""
    found = subprocess.run(["pgrep", "-af", "ecfnb.widgets.poller"], capture_output=True,
                           text=True).stdout
    return [line for line in found.splitlines()
            if any(f"ecfnb.widgets.poller localhost:{port} " in line for port in ports)]












def background(locator) -> str:
    css = locator.evaluate("e => getComputedStyle(e).backgroundColor")
    return re.sub(r"\s", "", css)




def output_text(scope):
    return scope.locator(".ecfnb-tab-output pre.ecfnb-text-output")






def explore_cell(address: str | None = None, **options: object) -> str:
    """A cell opening an explorer (the lab's ECF_HOST/ECF_PORT when no address)."""
    args = [repr(address)] if address else []
    args += [f"{name}={value!r}" for name, value in options.items()]
    return f"import ecfnb\nexplorer = ecfnb.explore({', '.join(args)})\nexplorer"


# -- tests ----------------------------------------------------------------------------------
def test_explore_notebook_tree_output_and_live_refresh(lab, page, explore_demo):
    server = Server(explore_demo.host, explore_demo.port)
    server.sync()
    post_output = Path(server.variable(POST, "ECF_JOBOUT")).read_text()
    model_output = Path(server.variable(MODEL, "ECF_JOBOUT")).read_text()
    error_line = next(line for line in post_output.splitlines() if "ERROR: input file" in line)
    try:
        ran = open_and_run(page, lab, "explore.ipynb")
        page.wait_for_selector(".ecfnb-tree .ecfnb-tree-anchor", timeout=30_000)
        # The kernel had synced, so its poller is a fork of it (sharing the tree).
        assert any(kernel_processes(lab).values()), kernel_processes(lab)

        # The suite in its state colour, as the server has it now.
        states = get_state(explore_demo.port)
        demo_state = states["/demo"][1]
        demo = node_span(page, "/demo")
        assert f"ecfnb-state-{demo_state}" in demo.get_attribute("class")
        assert background(demo) == STATE_COLOURS[demo_state]
        assert background(node_span(page, POST)) == STATE_COLOURS["aborted"]

        # Close /demo/forecast (opened by the notebook's select) and open it again by
        # its expander, as a user would: its children come back from the kernel.
        expander(page, "/demo/forecast").click()
        node_span(page, POST).wait_for(state="detached", timeout=10_000)
        expander(page, "/demo/forecast").click()
        node_span(page, POST).wait_for(timeout=10_000)
        assert node_span(page, REPORT).count() == 1

        # Click a complete task, then the Output tab: its output; then the aborted task.
        header = page.locator(".ecfnb-panel-header")
        anchor(page, MODEL).click()
        header.filter(has_text=MODEL).wait_for(timeout=10_000)
        click_tab(page, "Output")
        page.wait_for_function(
            "t => document.querySelector('.ecfnb-tab-output pre')?.innerText === t",
            arg=model_output.rstrip("\n"), timeout=10_000)
        anchor(page, POST).click()
        header.filter(has_text=POST).wait_for(timeout=10_000)
        page.wait_for_function(
            "t => document.querySelector('.ecfnb-tab-output pre')?.innerText === t",
            arg=post_output.rstrip("\n"), timeout=10_000)
        assert output_text(page).inner_text() == post_output.rstrip("\n")
        marked = page.locator(".ecfnb-tab-output span.ecfnb-errline")
        assert error_line in marked.all_inner_texts()
        assert background(marked.filter(has_text=error_line)) == ERRLINE_BACKGROUND

        # A lazy family: no child in the page until its expander is clicked.
        progress = node_span(page, "/demo/monitor/progress")
        assert progress.count() == 0
        expander(page, "/demo/monitor").click()
        progress.wait_for(timeout=10_000)
        assert background(progress) == STATE_COLOURS["active"]
        meter = anchor(page, "/demo/monitor/progress").locator(
            '[data-ecf-mark="meter:progress"]')  # drawn as a bar with its value
        assert meter.get_attribute("title").startswith("meter progress 0 100")
        assert meter.inner_text().split()[-1] == meter.get_attribute("data-value")

        # A state changed from outside reaches the page by the refresh alone.
        assert states[REPORT][1] == "queued"
        assert "ecfnb-state-queued" in node_span(page, REPORT).get_attribute("class")
        forced = time.monotonic()
        explore_demo.client("--force=complete", REPORT)
        assert get_state(explore_demo.port)[REPORT][1] == "complete"
        page.locator(f'.ecfnb-tree span.ecfnb-node.ecfnb-state-complete'
                     f'[data-ecf-path="{REPORT}"]').wait_for(timeout=20_000)
        seen_after = time.monotonic() - forced
        assert background(node_span(page, REPORT)) == STATE_COLOURS["complete"]
        assert seen_after < 15, seen_after  # interval=5
        assert prompts(page) == ran  # no cell was run again
        print(f"forced complete seen in the page after {seen_after:.1f} s")
        screenshot(page, "explorer")
    except BaseException:
        screenshot(page, "explorer-failed")
        raise


def test_label_and_output_markup_is_shown_as_text(lab, page, explore_demo):
    server = Server(explore_demo.host, explore_demo.port)
    server.sync()
    explore_demo.client("--alter=change", "label", "info", XSS, FETCH)
    jobout = FileSystemMap(server).local_path(FileSystemMap.path_of(FETCH, "jobout"))
    assert jobout, f"no local job output for {FETCH}"
    with open(jobout, "a") as out:
        out.write(f"{XSS}\n")
    write_notebook(lab, "xss.ipynb",
                   f"import ecfnb\nexplorer = ecfnb.explore({explore_demo.address!r}, "
                   f"path={FETCH!r})\nexplorer")
    try:
        open_and_run(page, lab, "xss.ipynb")
        marks = anchor(page, FETCH).locator(".ecfnb-marks")
        marks.wait_for(timeout=30_000)
        assert marks.inner_text() == f"info: {XSS}"
        page.locator(".ecfnb-panel-header").filter(has_text=FETCH).wait_for(
            timeout=10_000)
        click_tab(page, "Output")
        output = output_text(page)
        output.wait_for(timeout=10_000)
        # The Output's text arrives in a message after the (empty) view is drawn.
        page.wait_for_function("t => (document.querySelector('.ecfnb-tab-output pre')"
                               "?.innerText || '').trimEnd().endsWith(t)", arg=XSS,
                               timeout=10_000)
        assert output.inner_text().rstrip("\n").splitlines()[-1] == XSS
        click_tab(page, "Attributes")
        attributes = page.locator(".ecfnb-tab-attributes pre")
        attributes.filter(has_text="label info").wait_for(timeout=10_000)
        assert XSS.replace('"', '\\"') in attributes.inner_text()  # .def syntax: \"
        assert page.evaluate("window.__xss") is None
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator(".ecfnb-explorer img").count() == 0
        screenshot(page, "explorer-xss")
    except BaseException:
        screenshot(page, "explorer-xss-failed")
        raise


def test_white_list_refusal_and_read_only_buttons(lab, fresh_demo, page):
    env = make_read_only(fresh_demo)
    address = fresh_demo.address
    write_notebook(
        lab, "read_only.ipynb",
        f"import os\nimport ecfnb\nos.environ.update({env!r})\n"
        f"explorer = ecfnb.explore({address!r}, path={NIGHTLY!r}, interval=5)\nexplorer",
        f"locked = ecfnb.explore({address!r}, path={NIGHTLY!r}, read_only=True)\nlocked")
    try:
        open_and_run(page, lab, "read_only.ipynb")
        explorers = page.locator(".ecfnb-explorer")
        explorers.nth(1).locator(".ecfnb-panel-header").filter(has_text=NIGHTLY).wait_for(
            timeout=30_000)
        writer, locked = explorers.nth(0), explorers.nth(1)
        writer.locator(".ecfnb-panel-header").filter(has_text=NIGHTLY).wait_for(
            timeout=10_000)

        # read_only=True: every action button of a task is there and disabled (the
        # server's own four are in the panel too, hidden on a task's row).
        buttons = locked.locator("button[class*='ecfnb-action-']:visible")
        assert buttons.count() == 6
        assert locked.locator("button.ecfnb-action-halt").is_hidden()
        assert all(buttons.nth(i).is_disabled() for i in range(6))
        assert buttons.first.get_attribute("title") == "this explorer is read-only"

        # A user the white list makes read-only: the server refuses, the panel says so.
        suspend = writer.locator("button.ecfnb-action-suspend")
        assert suspend.is_enabled()
        suspend.click()
        confirm = writer.locator(".ecfnb-panel-confirm")
        confirm.filter(has_text=f"Suspend {NIGHTLY}?").wait_for(timeout=10_000)
        confirm.locator("button.ecfnb-panel-yes").click()
        message = writer.locator(".ecfnb-panel-message")
        message.filter(has_text="no *write* access").wait_for(timeout=20_000)
        assert "Suspend refused" in message.inner_text()
        confirm.wait_for(state="hidden", timeout=5_000)
        assert get_state(fresh_demo.port)[NIGHTLY][1] == "queued"
        assert "ecfnb-state-queued" in node_span(writer, NIGHTLY).get_attribute("class")
        screenshot(page, "explorer-read-only")
    except BaseException:
        screenshot(page, "explorer-read-only-failed")
        raise


def test_confirmation_buttons_show_their_whole_text(lab, page, explore_demo):
    """The confirmation bar puts a long question beside Yes and Cancel: the buttons
    were squeezed to "Y…" and "Ca…", so a user could not tell which one runs the
    action. Each must show its whole word, the question must stay readable beside
    them, and Cancel must leave the node as it was on the server."""
    before = get_state(explore_demo.port)[NIGHTLY][1]
    assert before == "queued"
    write_notebook(lab, "confirm.ipynb", explore_cell(path=NIGHTLY, interval=1))
    try:
        open_and_run(page, lab, "confirm.ipynb")
        panel = page.locator(".ecfnb-panel")
        panel.locator(".ecfnb-panel-header").filter(has_text=NIGHTLY).wait_for(
            timeout=30_000)
        panel.locator("button.ecfnb-action-suspend").click()
        confirm = panel.locator(".ecfnb-panel-confirm")
        question = f"Suspend {NIGHTLY}? No new job starts in it until it is resumed."
        confirm.filter(has_text=question).wait_for(timeout=10_000)

        measure = ("e => { const r = e.getBoundingClientRect(); return {text: e.innerText, "
                   "scroll: e.scrollWidth, client: e.clientWidth, left: r.left, "
                   "right: r.right, width: r.width}; }")
        shown = {name: confirm.locator(f"button.ecfnb-panel-{name}").evaluate(measure)
                 for name in ("yes", "no")}
        for name, word in (("yes", "Yes"), ("no", "Cancel")):
            assert shown[name]["text"] == word, shown[name]
            assert shown[name]["scroll"] <= shown[name]["client"] + 1, shown[name]
        # The question: visible, whole (not cut), and left of the buttons, not under them.
        text = confirm.locator(".widget-html").first
        assert text.is_visible()
        asked = text.evaluate(measure)
        assert asked["text"].strip() == question
        assert asked["width"] > 100, asked
        assert asked["scroll"] <= asked["client"] + 1, asked
        assert asked["right"] <= shown["yes"]["left"] + 1, (asked, shown["yes"])
        assert shown["yes"]["right"] <= shown["no"]["left"] + 1, shown
        # The tab titles too ("Attributes" was cut to "Attribute" in a narrow panel).
        for tab in panel.locator(".ecfnb-panel-tabs button").all():
            label = tab.evaluate(measure)
            assert label["scroll"] <= label["client"] + 1, label
        screenshot(page, "explorer-confirm")

        confirm.locator("button.ecfnb-panel-no").click()
        confirm.wait_for(state="hidden", timeout=5_000)
        assert get_state(explore_demo.port)[NIGHTLY][1] == before
        assert panel.locator(".ecfnb-panel-message").inner_text().strip() == ""
        assert f"ecfnb-state-{before}" in node_span(page, NIGHTLY).get_attribute("class")
    except BaseException:
        screenshot(page, "explorer-confirm-failed")
        raise


def test_long_output_line_wraps_inside_the_panel(lab, fresh_demo, page):
    """A job that writes one 3,000-character line (a dumped array, a long command)
    pushed the panel past the notebook's right edge: the page scrolled sideways and
    the end of the line could not be read. The line must wrap inside the panel."""
    long_line = "0123456789" * 300 + LONG_MARKER  # no space: only overflow-wrap breaks it
    script = fresh_demo.home / "scripts" / "fetch_obs.ecf"
    text = script.read_text()
    assert "%include <tail.h>" in text
    script.write_text(text.replace("%include <tail.h>",
                                   f'echo "{long_line}"\n%include <tail.h>'))
    fresh_demo.client("--requeue", FETCH)
    server = Server(fresh_demo.host, fresh_demo.port)

    def written() -> bool:
        """Run again and its output written. ECF_JOBOUT is read once it completed: read
        just after the requeue, before the job was submitted, it names try 0's file,
        which never exists (a CI failure)."""
        if get_state(fresh_demo.port)[FETCH][1] != "complete":
            return False
        server.sync()
        jobout = Path(server.variable(FETCH, "ECF_JOBOUT"))
        return jobout.is_file() and long_line.encode() in jobout.read_bytes()
    wait_for(written, timeout=60, what=f"{FETCH} to run again and write its long line")
    write_notebook(lab, "long_line.ipynb",
                   explore_cell(fresh_demo.address, path=FETCH, interval=1))
    try:
        open_and_run(page, lab, "long_line.ipynb")
        page.locator(".ecfnb-panel-header").filter(has_text=FETCH).wait_for(timeout=30_000)
        click_tab(page, "Output")
        page.wait_for_function(
            "m => document.querySelector('.ecfnb-tab-output pre')?.innerText.includes(m)",
            arg=LONG_MARKER, timeout=10_000)
        output = output_text(page)
        output.scroll_into_view_if_needed()
        sizes = output.evaluate("""pre => {
            const panel = pre.closest('.ecfnb-panel').getBoundingClientRect();
            const box = pre.getBoundingClientRect();
            const notebook = pre.closest('.jp-WindowedPanel-outer') ||
                             pre.closest('.jp-Notebook');
            return {page: document.scrollingElement.scrollWidth, window: innerWidth,
                    notebook: notebook.scrollWidth, notebookClient: notebook.clientWidth,
                    panelRight: panel.right, preRight: box.right, preLeft: box.left,
                    scroll: pre.scrollWidth, client: pre.clientWidth};
        }""")
        # (a) nothing scrolls sideways: the page, nor the notebook's own scroller;
        assert sizes["page"] <= sizes["window"], sizes
        assert sizes["notebook"] <= sizes["notebookClient"] + 1, sizes
        # (b) the panel ends inside the window, the output inside the panel, wrapped
        # (its text no wider than its box), and the whole line is there to read.
        assert sizes["panelRight"] <= sizes["window"], sizes
        assert sizes["preRight"] <= sizes["panelRight"] + 1, sizes
        assert sizes["client"] > 300, sizes  # the panel is not squeezed to nothing
        assert sizes["scroll"] <= sizes["client"] + 1, sizes
        assert long_line in text_lines(output)
        box = output.bounding_box()
        assert box is not None and box["height"] > 3 * 12, box  # wrapped over many rows
        screenshot(page, "explorer-long-line")
    except BaseException:
        screenshot(page, "explorer-long-line-failed")
        raise


def test_server_row_shows_the_server_and_only_server_commands(lab, page, explore_demo):
    """Clicking the server's own row after a task kept the task's tabs and buttons:
    Requeue or Kill offered for '/', which is not a node. The row must show the
    server (version and suites, as ecflow_client reports them) on its Server tab,
    and only the server's commands."""
    version = subprocess.run(["ecflow_client", "--port", str(explore_demo.port),
                              "--server_version"], capture_output=True, text=True,
                             check=True, timeout=30).stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    write_notebook(lab, "server_row.ipynb", explore_cell(path=MODEL, interval=1))
    try:
        open_and_run(page, lab, "server_row.ipynb")
        panel = page.locator(".ecfnb-panel")
        header = panel.locator(".ecfnb-panel-header")
        header.filter(has_text=MODEL).wait_for(timeout=30_000)
        click_tab(page, "Output")  # a tab the server's row does not have
        node_buttons = [panel.locator(f"button.ecfnb-action-{name}") for name in NODE_ACTIONS]
        server_buttons = {name: panel.locator(f"button.ecfnb-action-{name}")
                          for name in SERVER_ACTIONS}
        assert all(button.is_visible() for button in node_buttons)
        assert all(button.is_hidden() for button in server_buttons.values())

        root_anchor(page).click()
        page.locator(".ecfnb-panel-tabs button.mod-active",
                     has_text="Server").wait_for(timeout=10_000)
        summary = panel.locator(".ecfnb-tab-server table.ecfnb-server-summary")
        summary.wait_for(timeout=10_000)
        rows = dict(zip(summary.locator("th").all_inner_texts(),
                        (t.strip() for t in summary.locator("td").all_inner_texts()),
                        strict=True))
        assert rows["ecFlow"] == version, rows
        assert rows["suites"] == "demo", rows
        assert rows["server"] == explore_demo.address, rows
        assert explore_demo.address in header.inner_text()
        assert MODEL not in header.inner_text()
        titles = panel.locator(".ecfnb-panel-tabs button").all_inner_texts()
        assert [t.strip() for t in titles] == ["Server", "Attributes", "Variables", "Why",
                                               "Zombies", "Log", "Table", "Timeline", "Actions"]
        visible = [name for name, button in zip(NODE_ACTIONS, node_buttons, strict=True)
                   if button.is_visible()]
        assert visible == [], f"node actions offered on the server's row: {visible}"
        assert all(button.is_visible() for button in server_buttons.values())
        # A running server can be halted and checkpointed (not restarted: it runs).
        assert server_buttons["halt"].is_enabled()
        assert server_buttons["checkpoint"].is_enabled()
        assert server_buttons["restart"].is_disabled()
        screenshot(page, "explorer-server-row")
    except BaseException:
        screenshot(page, "explorer-server-row-failed")
        raise


def test_running_output_grows_in_the_page(lab, page, explore_demo):
    """A running job's Output tab was a snapshot: new lines showed only when the cell
    was run again. The demo's progress job writes a line every 2 s; the page must
    grow by itself, keep the lines it had, and catch up with the file on disk."""
    server = Server(explore_demo.host, explore_demo.port)
    server.sync()
    assert server.node(PROGRESS, detail=False).state == "active"
    jobout = Path(server.variable(PROGRESS, "ECF_JOBOUT"))
    assert jobout == explore_demo.home / "demo" / "monitor" / "progress.1"
    write_notebook(lab, "follow.ipynb", explore_cell(path=PROGRESS, interval=1))
    try:
        ran = open_and_run(page, lab, "follow.ipynb")
        page.locator(".ecfnb-panel-header").filter(has_text=PROGRESS).wait_for(
            timeout=30_000)
        click_tab(page, "Output")
        page.wait_for_function(
            "() => document.querySelector('.ecfnb-tab-output pre')?.innerText"
            ".includes(' done at ')", timeout=10_000)
        output = output_text(page)
        first = text_lines(output)
        page.wait_for_function(
            "n => document.querySelector('.ecfnb-tab-output pre').innerText"
            ".replace(/\\n+$/, '').split('\\n').length > n", arg=len(first), timeout=20_000)
        grown = text_lines(output)
        assert grown[:len(first)] == first  # appended to, not replaced or reordered
        assert re.fullmatch(r"step \d+ of 900 done at \d\d:\d\d:\d\d", grown[-1]), grown[-1]

        # The page lags the file by at most a follow period (2 s): within a few periods
        # both end on the same line, and then the page holds exactly the file's lines.
        def caught_up():
            shown = text_lines(output)
            on_disk = jobout.read_text(errors="replace").rstrip("\n").split("\n")
            return (shown, on_disk) if shown[-1] == on_disk[-1] else None

        shown, on_disk = wait_for(caught_up, timeout=20, interval=0.1,
                                  what="the page's last output line to be the file's")
        assert shown[-1].startswith("step "), shown[-1]
        assert shown == on_disk
        assert prompts(page) == ran  # no cell was run again
        screenshot(page, "explorer-follow")
    except BaseException:
        screenshot(page, "explorer-follow-failed")
        raise
