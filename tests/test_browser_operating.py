"""Operating from the explorer in a real browser: JupyterLab in Debian's chromium.

One JupyterLab serves the module; each test gets its own ecflow_server built from
test_operating's SUITE (``/op/f/gate`` aborted, ``t1``..``t3`` waiting on it in a
limit of 2, ``after``, ``future``, ``early``; ``/op/g/x`` running in a repeated
family; ``/op/hold`` suspended), its own notebook and kernel. Whatever the page does
is checked with ``ecflow_client`` (``--get_state``, ``--query``, ``--get``), the
server's log file and the job output on disk, never with ecfnb's own code:

- the node menu of a right-click on a tree row offers what ecflow_ui offers an
  aborted task; Set complete asks first, with the preview of what it sets in motion,
  and the server then submits exactly what the preview listed; a right-click on a
  row of the Table view opens the same menu for that node, and its pick is done;
- keys in the tree move the selection, open and close families, open the menu and
  pick in it, and never reach the notebook's command-mode shortcuts (a control shows
  that the same key pressed on the notebook does act);
- Ctrl-click marks rows across families, Shift-click a range; one confirmation lists
  them all and one command suspends each; Requeue aborted on a family requeues its
  aborted tasks only;
- one edit of each kind through the editors under the Variables and Attributes tabs
  (each read back from the server), a meter out of range refused before anything is
  sent, and the Edit tab's edited script and variables in the job's output;
- a user the white list makes read-only: the server's refusal in the message line,
  the node unchanged, and the Actions tab lists what was tried and what came of it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from test_browser_panels import (
    explore_cell,
    log_file_lines,
    shots,
    wait_shown,
)
from test_operating import TASKS, op, query  # noqa: F401 - op: the server fixture

from browser import (
    anchor,
    click_tab,
    expander,
    kernels_page,
    open_and_run,
    own_user_lab,
    write_notebook,
)
from conftest import make_read_only, wait_for
from helpers import client, env_without, task_state

GATE, T1, T2, T3, X = "/op/f/gate", "/op/f/t1", "/op/f/t2", "/op/f/t3", "/op/g/x"
RUNNING = ("submitted", "active")


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, as the test's own user (no ECF_USER leaking in)."""
    with own_user_lab(tmp_path_factory.mktemp("operating-lab")) as lab:
        yield lab


@pytest.fixture
def served(op):  # noqa: F811 - test_operating's fixture, imported above
    """test_operating's server (stopped and its home removed after the test)."""
    return op


@pytest.fixture
def page(lab, served):
    with kernels_page(lab, [served.port]) as page:
        yield page


# -- helpers --------------------------------------------------------------------------------
def rows_with(scope, cls: str) -> set[str]:
    """Paths of the tree rows that have class ``cls`` (selected, marked)."""
    return set(scope.locator(f".ecfnb-tree li.{cls} > span.ecfnb-tree-anchor > "
                             "span.ecfnb-node").evaluate_all(
        "els => els.map(e => e.dataset.ecfPath)"))


def menu(page):
    return page.locator("div.ecfnb-menu")


def open_menu(page, target, title: str) -> dict[str, bool]:
    """Right-click ``target``; wait for the menu titled ``title``; its entries: name ->
    enabled."""
    target.click(button="right")
    menu(page).locator(".ecfnb-menu-title", has_text=re.compile(
        rf"^{re.escape(title)}$")).wait_for(timeout=15_000)
    assert menu(page).count() == 1
    return menu_entries(page)


def menu_entries(page) -> dict[str, bool]:
    found = menu(page).locator(".ecfnb-menu-item").evaluate_all(
        "els => els.map(e => [e.dataset.name, !e.classList.contains('ecfnb-menu-off')])")
    return dict(found)


def pick(page, name: str) -> None:
    menu(page).locator(f'.ecfnb-menu-item[data-name="{name}"]').click()
    menu(page).wait_for(state="detached", timeout=5_000)


def confirmation(page):
    return page.locator(".ecfnb-panel-confirm")


def question_is(page, text: str) -> None:
    """Wait until the confirmation asks ``text`` (the whole question)."""
    confirmation(page).locator("b").filter(
        has_text=re.compile(rf"^{re.escape(text)}$")).first.wait_for(timeout=15_000)


def say_yes(page) -> None:
    confirmation(page).locator("button.ecfnb-panel-yes").click()
    confirmation(page).wait_for(state="hidden", timeout=15_000)


def message(page):
    return page.locator(".ecfnb-panel-message")


def preview_paths(page, part: str) -> list[str]:
    """The paths listed under ``part`` (submitted, released, ...) of the preview."""
    return confirmation(page).locator(
        f".ecfnb-preview .ecfnb-preview-{part} li > code").all_inner_texts()


def states_now(port: int) -> dict[str, str]:
    return {f"/op/f/{name}": task_state(port, f"/op/f/{name}").get("state", "")
            for name in TASKS}


def submissions(server, path: str) -> int:
    """How many times the server's log says it submitted ``path``."""
    return sum(bool(re.match(rf"LOG:\[[^\]]+\]\s+submitted: {re.escape(path)}\b", line))
               for line in log_file_lines(server))


def get_text(port: int, path: str) -> str:
    return client(port, "--get", path).stdout.decode(errors="replace")


def eventually(shown, expected, timeout: float = 10) -> None:
    """Wait until ``shown()`` equals ``expected``; else fail showing both."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and shown() != expected:
        time.sleep(0.2)
    assert shown() == expected


def tree_focused(page) -> bool:
    return page.evaluate("document.activeElement?.classList.contains('ecfnb-tree-view')")


# -- 1. the node menu, Set complete with its preview, the table's menu -----------------------
#: ecflow_ui's menu for an aborted task with no trigger, time or date (ecflowview_menus.json):
#: what it enables, and what it shows disabled. (One choice of ecfnb's own, as in
#: test_actions: Defstatus offers only the other default state than the node's, queued.)
ABORTED_TASK_ON = {"suspend", "rerun", "execute", "requeue", "complete",
                   "defstatus_complete", "order_top", "order_up", "order_down",
                   "order_bottom", "order_alpha", "show", "edit", "copy"}
ABORTED_TASK_OFF = {"resume", "aborted", "kill", "free_all", "free_trigger", "free_time",
                    "free_date", "defstatus_queued", "clear_late", "clear_zombie",
                    "clear_killed"}


def test_menu_of_an_aborted_task_and_set_complete_as_previewed(lab, served, page):
    port = served.port
    write_notebook(lab, "menu.ipynb", explore_cell(served.address, path=GATE, interval=1))
    with shots(page, "operating-menu"):
        open_and_run(page, lab, "menu.ipynb")
        wait_shown(page, GATE, timeout=30_000)
        assert task_state(port, GATE)["state"] == "aborted"

        entries = open_menu(page, anchor(page, GATE), GATE)
        on = {name for name, enabled in entries.items() if enabled}
        assert on == ABORTED_TASK_ON, entries
        assert set(entries) - on == ABORTED_TASK_OFF, entries
        groups = menu(page).locator(".ecfnb-menu-group").all_inner_texts()
        assert [g for g in groups if g] == ["Free dependencies", "Defstatus", "Order",
                                            "Clear flags"]
        # appended to the page's body, outside the notebook (not clipped by the output)
        assert page.evaluate("document.querySelector('div.ecfnb-menu').parentElement "
                             "=== document.body")
        menu(page).locator('.ecfnb-menu-item[data-name="kill"]').click()  # off: nothing
        assert menu(page).count() == 1 and confirmation(page).is_hidden()

        pick(page, "complete")
        question_is(page, f"Set {GATE} complete? Tasks waiting on it may start. If it is "
                          "submitted or active, check first that its job is not running "
                          "any more.")
        submitted = preview_paths(page, "submitted")
        released = preview_paths(page, "released")
        assert sorted(submitted) == ["/op/f/early", T1, T2], submitted
        assert T3 in released, released  # the limit (max 2) is full
        t3_reason = confirmation(page).locator(".ecfnb-preview-released li").filter(
            has=page.locator("code", has_text=T3)).inner_text()
        assert "/op:lim" in t3_reason
        assert states_now(port)[GATE] == "aborted"  # nothing sent before Yes

        say_yes(page)
        message(page).filter(has_text=f"Set {GATE} complete").wait_for(timeout=15_000)
        wait_for(lambda: task_state(port, GATE)["state"] == "complete", what="gate complete")
        wait_for(lambda: all(states_now(port)[p] in RUNNING for p in submitted),
                 what="the previewed tasks submitted")
        time.sleep(2)  # the server's next passes submit nothing else
        now = states_now(port)
        assert {p for p, s in now.items() if s in RUNNING} == set(submitted), now
        assert now[T3] == "queued"

        # The Actions tab: the action taken, by whom, its command and outcome.
        click_tab(page, "Actions")
        logged = page.locator(".ecfnb-view-actions table.ecfnb-action-log tr")
        logged.nth(1).wait_for(timeout=10_000)
        assert logged.count() == 2  # the head and the one action
        cells = logged.nth(1).locator("td").all_inner_texts()
        assert cells[3:7] == ["Set complete", GATE, f"ecflow_client --force=complete {GATE}",
                              "ok"], cells

        # A right-click on a row of the Table view: the same menu, for that node.
        anchor(page, "/op/f").click()
        wait_shown(page, "/op/f")
        click_tab(page, "Table")
        table_row = page.locator(f'.ecfnb-table-view tr.ecfnb-row[data-ecf-path="{T3}"]')
        table_row.wait_for(timeout=15_000)
        from_table = open_menu(page, table_row, T3)
        assert from_table["free_trigger"] and not from_table["free_date"]
        page.keyboard.press("Escape")
        menu(page).wait_for(state="detached", timeout=5_000)
        from_tree = open_menu(page, anchor(page, T3), T3)
        assert from_table == from_tree
        page.keyboard.press("Escape")
        menu(page).wait_for(state="detached", timeout=5_000)
        anchor(page, "/op/f").click()
        wait_shown(page, "/op/f")
        click_tab(page, "Table")
        table_row.wait_for(timeout=15_000)
        open_menu(page, table_row, T3)
        pick(page, "suspend")
        wait_shown(page, T3)  # the node the menu was for is shown
        question_is(page, f"Suspend {T3}? No new job starts in it until it is resumed.")
        assert task_state(port, T3).get("suspended") is None
        say_yes(page)
        wait_for(lambda: task_state(port, T3).get("suspended") == "1", what="t3 suspended")
        assert task_state(port, T3)["state"] == "queued"


# -- 2. keys ---------------------------------------------------------------------------------
def test_keys_in_the_tree_never_reach_the_notebook(lab, served, page):
    port = served.port
    write_notebook(lab, "keys.ipynb", explore_cell(served.address, path=T1, interval=1),
                   "after_the_explorer = 2")
    cells = page.locator(".jp-Notebook .jp-Cell")

    def notebook() -> tuple[int, int, list[str]]:
        return (cells.count(), page.locator(".jp-Notebook .jp-MarkdownCell").count(),
                page.locator(".jp-Notebook .jp-Cell .cm-content").all_inner_texts())

    def selected_is(path: str) -> None:
        page.locator(".ecfnb-tree li.ecfnb-tree-selected > span.ecfnb-tree-anchor > "
                     f'span[data-ecf-path="{path}"]').wait_for(timeout=10_000)
        wait_shown(page, path)

    with shots(page, "operating-keys"):
        open_and_run(page, lab, "keys.ipynb")
        wait_shown(page, T1, timeout=30_000)
        before = notebook()
        assert before[:2] == (2, 0), before
        anchor(page, T1).click()
        assert tree_focused(page)

        page.keyboard.press("ArrowDown")
        selected_is(T2)
        assert rows_with(page, "ecfnb-tree-selected") == {T2}
        page.keyboard.press("ArrowUp")
        selected_is(T1)

        # Right opens a closed family, then goes to its first child; Left goes back up
        # and closes it.
        anchor(page, "/op/g").click()
        selected_is("/op/g")
        assert anchor(page, X).count() == 0 or anchor(page, X).is_hidden()
        page.keyboard.press("ArrowRight")
        anchor(page, X).wait_for(state="visible", timeout=10_000)
        page.keyboard.press("ArrowRight")
        selected_is(X)
        page.keyboard.press("ArrowLeft")
        selected_is("/op/g")
        page.keyboard.press("ArrowLeft")
        anchor(page, X).wait_for(state="hidden", timeout=10_000)
        page.keyboard.press("ArrowUp")  # back into /op/f: its last task
        selected_is("/op/f/early")
        page.keyboard.press("Enter")  # shows the panel; the cell stays in command mode
        wait_shown(page, "/op/f/early")

        # The keys of the notebook's command mode, pressed in the tree and in its menu.
        for key in ("d", "d", "x", "a", "b", "c", "v", "z", "y", "Shift+M", "Shift+Enter"):
            page.keyboard.press(key)
        page.keyboard.press("m")
        menu(page).locator(".ecfnb-menu-title", has_text="/op/f/early").wait_for(
            timeout=10_000)
        for key in ("d", "d", "x", "a", "b", "m"):
            page.keyboard.press(key)
        assert menu(page).count() == 1
        page.keyboard.press("Escape")
        menu(page).wait_for(state="detached", timeout=5_000)
        assert tree_focused(page)
        time.sleep(1)
        assert notebook() == before
        assert page.locator(".jp-Notebook.jp-mod-editMode").count() == 0
        assert task_state(port, "/op/f/early")["state"] == "queued"

        # In the menu: the first enabled entry has the focus, arrows move it, Enter picks.
        anchor(page, T1).click()
        selected_is(T1)
        page.keyboard.press("m")
        menu(page).locator(".ecfnb-menu-title", has_text=T1).wait_for(timeout=10_000)
        enabled = [name for name, on in menu_entries(page).items() if on]

        def focused() -> str:
            return page.evaluate("document.activeElement.dataset.name || ''")
        assert focused() == enabled[0] == "suspend"
        page.keyboard.press("ArrowDown")
        assert focused() == enabled[1]
        page.keyboard.press("ArrowUp")
        assert focused() == "suspend"
        page.keyboard.press("Enter")
        menu(page).wait_for(state="detached", timeout=5_000)
        question_is(page, f"Suspend {T1}? No new job starts in it until it is resumed.")
        say_yes(page)
        wait_for(lambda: task_state(port, T1).get("suspended") == "1", what="t1 suspended")
        assert notebook() == before

        # The control: the same key with the notebook itself in command mode does act.
        cells.nth(1).locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
        page.keyboard.press("b")
        wait_for(lambda: cells.count() == 3, timeout=10, what="b to add a cell")


# -- 3. several nodes ---------------------------------------------------------------------------
def test_marked_nodes_across_families_and_requeue_aborted(lab, served, page):
    port = served.port
    write_notebook(lab, "several.ipynb", explore_cell(served.address, path=T1, interval=1))
    with shots(page, "operating-several"):
        open_and_run(page, lab, "several.ipynb")
        wait_shown(page, T1, timeout=30_000)
        anchor(page, T2).click(modifiers=["Control"])
        wait_for(lambda: rows_with(page, "ecfnb-tree-marked") == {T2}, timeout=10,
                 what="t2 marked")
        assert rows_with(page, "ecfnb-tree-selected") == {T1}
        open_menu(page, anchor(page, T2), "2 nodes")
        page.keyboard.press("Escape")
        menu(page).wait_for(state="detached", timeout=5_000)

        expander(page, "/op/g").click()
        anchor(page, X).click(modifiers=["Control"])  # another family
        wait_for(lambda: rows_with(page, "ecfnb-tree-marked") == {T2, X}, timeout=10,
                 what="t2 and x marked")
        entries = open_menu(page, anchor(page, X), "3 nodes")
        assert entries["suspend"] and not entries["order_top"]  # order: one at a time
        pick(page, "suspend")
        question_is(page, f"Suspend 3 nodes ({T1}, {T2}, {X})? No new job starts in it "
                          "until it is resumed.")
        assert all(task_state(port, p).get("suspended") is None for p in (T1, T2, X))
        say_yes(page)
        message(page).filter(has_text="Suspended 3 nodes").wait_for(timeout=15_000)
        assert all(task_state(port, p).get("suspended") == "1" for p in (T1, T2, X))
        assert task_state(port, T3).get("suspended") is None

        # Shift-click: the range between the selected row and the clicked one.
        anchor(page, GATE).click()
        wait_shown(page, GATE)
        wait_for(lambda: rows_with(page, "ecfnb-tree-marked") == set(), timeout=10,
                 what="a plain click to clear the marks")
        anchor(page, T3).click(modifiers=["Shift"])
        wait_for(lambda: rows_with(page, "ecfnb-tree-marked") == {T1, T2, T3}, timeout=10,
                 what="the range marked")
        open_menu(page, anchor(page, T2), "4 nodes")
        page.keyboard.press("Escape")
        menu(page).wait_for(state="detached", timeout=5_000)

        # Requeue aborted on the family: its aborted tasks only.
        client(port, "--force=aborted", "/op/f/after")
        client(port, "--force=complete", T3)
        states = states_now(port)
        assert (states[GATE], states["/op/f/after"], states[T3]) == (
            "aborted", "aborted", "complete")
        submitted_before = submissions(served, GATE)
        entries = open_menu(page, anchor(page, "/op/f"), "/op/f")
        assert entries["requeue_aborted"]
        pick(page, "requeue_aborted")
        question_is(page, "Requeue the aborted tasks under /op/f? They run again when "
                          "their dependencies allow.")
        say_yes(page)
        wait_for(lambda: submissions(served, GATE) == submitted_before + 1,
                 what="gate requeued and submitted again")
        states = states_now(port)
        assert states["/op/f/after"] == "queued", states  # requeued; waits on t1
        assert states[T3] == "complete", states  # not aborted: left alone
        assert all(task_state(port, p).get("suspended") == "1" for p in (T1, T2))


# -- 4. editing --------------------------------------------------------------------------------
#: The hint each kind of the attribute editor puts in its value box, and the kinds'
#: labels where they are not the kind's name.
HINTS = {"label": "new text", "meter": "value", "event": "set / clear",
         "limit": "value", "limit_max": "maximum", "repeat": "value",
         "late": "-s +00:15 -c +02:00", "time": "23:00 or +00:30", "today": "23:00",
         "date": "1.*.*", "day": "monday"}
LABELS = {"limit": "limit: tokens in use", "limit_max": "limit: maximum"}


def kind_label(kind: str) -> str:
    return LABELS.get(kind, kind)


def test_each_edit_kind_and_the_edit_tab_reach_the_server(lab, served, page):
    port = served.port
    client(port, "--suspend", "/op/g")  # (its repeat would run x again at once)
    client(port, "--force=complete", X)
    wait_for(lambda: task_state(port, X)["state"] in ("queued", "complete"), what="x done")
    write_notebook(lab, "edit.ipynb", explore_cell(served.address, path=X, interval=1))
    with shots(page, "operating-edit"):
        open_and_run(page, lab, "edit.ipynb")
        wait_shown(page, X, timeout=30_000)

        # Variables, under the Variables tab: two set, one deleted.
        click_tab(page, "Variables")
        variables = page.locator(".ecfnb-editor-variables")
        table = page.locator(".ecfnb-tab-variables")

        def variable(name: str, value: str, question: str, button: str = "set") -> None:
            """Type the name and value once the tab has read the node (the editor is
            reset then), press ``button``, answer Yes."""
            table.filter(has_text="GREETING").wait_for(timeout=10_000)
            variables.locator(".ecfnb-editor-name input").fill(name)
            variables.locator(".ecfnb-editor-value input").fill(value)
            variables.locator(f"button.ecfnb-editor-{button}").click()
            question_is(page, question)
            say_yes(page)

        variable("NEWVAR", "from the browser",
                 f"Set variable NEWVAR of {X} to 'from the browser'?")
        wait_for(lambda: query(port, "variable", f"{X}:NEWVAR") == "from the browser",
                 what="the new variable")
        table.filter(has_text="NEWVAR").wait_for(timeout=10_000)  # read again
        variable("OLDVAR", "to go", f"Set variable OLDVAR of {X} to 'to go'?")
        wait_for(lambda: query(port, "variable", f"{X}:OLDVAR") == "to go",
                 what="the second variable")
        table.filter(has_text="OLDVAR").wait_for(timeout=10_000)
        variable("OLDVAR", "", f"Delete variable OLDVAR of {X}?", button="delete")
        wait_for(lambda: "OLDVAR" not in get_text(port, X), what="the variable deleted")
        assert query(port, "variable", f"{X}:NEWVAR") == "from the browser"

        click_tab(page, "Attributes")
        editor = page.locator(".ecfnb-editor")
        kinds = editor.locator(".ecfnb-editor-kind select option")
        eventually(kinds.all_inner_texts, ["label", "meter", "event", "late", "time", "today",
                                           "date", "day"])

        def change(kind: str, value: str, question: str, name: str = "",
                   current: str | None = None, button: str = "set") -> None:
            """Pick ``kind`` (the editor fills in the node's first ``name`` and its
            ``current`` value), type ``value``, press ``button``, answer Yes."""
            editor.locator(".ecfnb-editor-kind select").select_option(value=kind_label(kind))
            name_box = editor.locator(".ecfnb-editor-name input")
            value_box = editor.locator(".ecfnb-editor-value input")
            hint = HINTS[kind]
            wait_for(lambda: value_box.get_attribute("placeholder") == hint and
                     name_box.input_value() == name and
                     (current is None or value_box.input_value() == current),
                     timeout=10, what=f"the editor to switch to {kind}")
            value_box.fill(value)
            editor.locator(f"button.ecfnb-editor-{button}").click()
            question_is(page, question)
            say_yes(page)

        change("label", "from the browser", f"Set label lab of {X} to 'from the browser'?",
               name="lab", current="")
        wait_for(lambda: query(port, "label", f"{X}:lab") == "from the browser",
                 what="the label")
        change("meter", "4", f"Set meter m of {X} to 4?", name="m", current="0")
        wait_for(lambda: query(port, "meter", f"{X}:m") == "4", what="the meter")
        change("event", "set", f"Set event e of {X}?", name="e")
        wait_for(lambda: query(port, "event", f"{X}:e") == "set", what="the event set")
        change("event", "", f"Clear event e of {X}?", name="e", button="delete")
        wait_for(lambda: query(port, "event", f"{X}:e") == "clear", what="the event clear")
        change("late", "-s +00:15 -c +02:00", f"Set late -s +00:15 -c +02:00 on {X}?")
        assert "late -s +00:15 -c +02:00" in get_text(port, X)
        for kind, value in (("time", "23:00"), ("today", "10:00"), ("date", "1.12.2098"),
                            ("day", "monday")):
            change(kind, value, f"Add {kind} {value} to {X}?")
            wait_for(lambda added=f"{kind} {value}": added in get_text(port, X), timeout=10,
                     what=f"{kind} {value} added")
        change("today", "10:00", f"Delete today 10:00 of {X}?", button="delete")
        wait_for(lambda: "today 10:00" not in get_text(port, X), timeout=10,
                 what="today 10:00 deleted")
        assert "time 23:00" in get_text(port, X)

        # A meter out of its range: refused at once, nothing asked nor sent.
        log_lines = len(log_file_lines(served))
        assert any("--alter" in line and " m 4 " in line   # the log names each edit
                   for line in log_file_lines(served))
        kind_select = editor.locator(".ecfnb-editor-kind select")
        kind_select.select_option(value="meter")
        value_box = editor.locator(".ecfnb-editor-value input")
        wait_for(lambda: value_box.get_attribute("placeholder") == "value" and
                 value_box.input_value() == "4", timeout=10, what="the meter's value")
        value_box.fill("99")
        editor.locator("button.ecfnb-editor-set").click()
        message(page).filter(has_text="from 0 to 10").wait_for(timeout=10_000)
        assert confirmation(page).is_hidden()
        assert query(port, "meter", f"{X}:m") == "4"
        assert not any("--alter" in line for line in log_file_lines(served)[log_lines:])

        # The suite's limit, its maximum, and the family's repeat.
        anchor(page, "/op").click()
        wait_shown(page, "/op")
        click_tab(page, "Attributes")
        eventually(lambda: [k.replace("\xa0", " ") for k in kinds.all_inner_texts()],
                   ["limit: tokens in use", "limit: maximum", "late", "time", "today", "date",
                    "day"])
        change("limit", "1", "Set the tokens in use of limit lim of /op to 1?", name="lim",
               current="0")
        wait_for(lambda: query(port, "limit", "/op:lim") == "1", what="the limit's value")
        change("limit_max", "5", "Set the maximum of limit lim of /op to 5?", name="lim",
               current="2")  # the box starts from the maximum, not the 1 in use
        wait_for(lambda: "limit lim 5" in get_text(port, "/op"), what="the limit's maximum")
        anchor(page, "/op/g").click()
        wait_shown(page, "/op/g")
        repeat = query(port, "repeat", "/op/g")
        target = "3" if repeat != "3" else "4"
        change("repeat", target, f"Set the repeat of /op/g to {target}? Its next run uses "
                                 "that value.", current=repeat)
        wait_for(lambda: query(port, "repeat", "/op/g") == target, what="the repeat")

        # The Edit tab: the script and its variables, edited and submitted.
        anchor(page, X).click()
        wait_shown(page, X)
        click_tab(page, "Edit")
        edit = page.locator(".ecfnb-view-edit")
        text = edit.locator(".ecfnb-edit-text textarea")
        wait_for(lambda: "echo greeting=%GREETING%" in text.input_value(), timeout=15,
                 what="the script in the Edit tab")
        shown_vars = edit.locator(".ecfnb-edit-variables textarea")
        assert "GREETING = hello" in shown_vars.input_value().splitlines()
        script = (Path(served.home) / "op/g/x.ecf").read_text()
        assert "sleep 60" in script and "sleep 60" in text.input_value()
        text.fill(text.input_value().replace("sleep 60", "echo edited-in-the-browser"))
        shown_vars.fill(shown_vars.input_value().replace("GREETING = hello",
                                                         "GREETING = hola"))
        edit.locator("button.ecfnb-edit-submit").click()
        question_is(page, f"Submit the edited script of {X} as its next job? The server "
                          "runs it at once, whatever its triggers and limits say.")
        say_yes(page)
        message(page).filter(has_text="Submitted the edited script").wait_for(
            timeout=20_000)

        def output() -> bytes:
            return b"".join(f.read_bytes() for f in (Path(served.home) / "op/g").glob(
                "x.[0-9]*"))
        wait_for(lambda: b"edited-in-the-browser" in output(), timeout=30,
                 what="the edited job's output")
        assert b"greeting=hola" in output()
        assert (Path(served.home) / "op/g/x.ecf").read_text() == script  # file untouched


# -- 5. a read-only user -------------------------------------------------------------------
def test_a_read_only_user_is_refused_and_the_actions_tab_says_so(lab, served, page):
    port = served.port
    env = make_read_only(served)
    write_notebook(lab, "reader.ipynb",
                   f"import os\nos.environ.update({env!r})\n" +
                   explore_cell(served.address, path=T1, interval=1))
    refused = client(port, "--suspend", T1, check=False, env={**env_without(*env), **env})
    assert refused.returncode != 0  # the server refuses this user, said without ecfnb
    reply = " ".join(refused.stderr.decode().split("Server reply:")[-1].split())
    with shots(page, "operating-read-only"):
        open_and_run(page, lab, "reader.ipynb")
        wait_shown(page, T1, timeout=30_000)
        entries = open_menu(page, anchor(page, T1), T1)
        assert entries["suspend"]  # the explorer is not read_only=True: the server decides
        pick(page, "suspend")
        question_is(page, f"Suspend {T1}? No new job starts in it until it is resumed.")
        say_yes(page)
        message(page).filter(has_text="Suspend refused").wait_for(timeout=20_000)
        said = " ".join(message(page).inner_text().split())
        assert reply in said, (reply, said)  # the server's own words
        assert task_state(port, T1).get("suspended") is None

        click_tab(page, "Actions")
        table = page.locator(".ecfnb-view-actions table.ecfnb-action-log")
        table.locator("tr").nth(1).wait_for(timeout=10_000)
        assert table.locator("tr").count() == 2  # the head and the one action
        cells = table.locator("tr").nth(1).locator("td").all_inner_texts()
        assert cells[1] == env["ECF_USER"] and cells[2] == served.address
        assert cells[3:7] == ["Suspend", T1, f"ecflow_client --suspend {T1}", "refused"]
        assert cells[7].strip(), cells

