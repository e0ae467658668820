"""The explorer's time slider and the Forecast tab in a real browser: JupyterLab in
Debian's chromium, a real ecflow_server under TZ=Asia/Tokyo (its log is not in UTC).

What the page shows is checked against what the server said, read here without ecfnb:

- the time slider: test_history's /hist suite (ECF_TRIES 2, /hist/f/b aborts twice,
  /hist/g suspended in between). ``--get_state`` snapshots with nothing changing near
  them (test_history's ``quiet_snapshot``) give the tree at an early and a late instant.
  Clicking "past" draws every row on screen as it was at the slider's instant (the end:
  the late snapshot); keys pressed on the slider's handle (Home: the log's first
  second, whose states the log's own lines give; ArrowRight, step by step, to the
  early snapshot's second; End) redraw the rows as the snapshot of the instant the
  page names. "past" again: every row live, in the state ``--query dstate`` gives;
- the Forecast tab: test_forecast's /fc (a repeat 1..2 under a one-token limit, run
  once for the durations, then requeued): while the second run goes on, the range, the
  critical path a → b → c → d → e, a deadline typed in (UTC) "on time", a click on a
  path selects it in the tree; and the completion the server's log then shows lies
  inside the range the page showed.

The time a slider step takes to redraw the rows in the browser is printed (not asserted).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from test_browser_panels import (
    explore_cell,
    pollers,
    serve,
    shots,
    wait_shown,
    watch_console,
)
from test_forecast import FILES as FC_FILES
from test_forecast import SUITE as FC_SUITE
from test_forecast import ZONE, state
from test_history import FILES as HIST_FILES
from test_history import SUITE as HIST_SUITE
from test_history import quiet_snapshot, snapshot

from browser import (
    anchor,
    chromium_page,
    click_tab,
    expander,
    open_and_run,
    own_user_lab,
    screenshot,
    shut_kernels_down,
    write_notebook,
)
from conftest import wait_for
from helpers import client, job, log_changes


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, as the test's own user (no ECF_USER leaking in)."""
    with own_user_lab(tmp_path_factory.mktemp("history-lab")) as lab:
        yield lab


@pytest.fixture
def ports() -> list[int]:
    return []


@pytest.fixture
def page(lab, ports):
    """A browser page; after the test the lab's kernels are shut down and their pollers
    gone, before the test's server stops (servers are requested before ``page``)."""
    try:
        with chromium_page() as page:
            watch_console(page)
            yield page
    finally:
        shut_kernels_down(lab)
        wait_for(lambda: pollers(ports) == [], timeout=15,
                 what="the explorer's polling process to end with the kernel")


@pytest.fixture
def hist(ports):
    """/hist with a longer a (the early snapshot is taken while it runs) and an x that
    runs past the test (nothing under the suspended /hist/g changes)."""
    yield from serve(ports, definition=HIST_SUITE, env={"TZ": ZONE}, files={
        **HIST_FILES, "hist/f/a.ecf": job("sleep 4"), "hist/g/x.ecf": job("sleep 600")})


@pytest.fixture
def fc(ports):
    yield from serve(ports, definition=FC_SUITE, files=FC_FILES, env={"TZ": ZONE})


DEBUG_PORT = []
# -- helpers --------------------------------------------------------------------------------
#: Every tree row on screen: (path, its label's classes, data-ecf-past-state or null).
ROWS_JS = """() => [...document.querySelectorAll('.ecfnb-tree span.ecfnb-node')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e.dataset.ecfPath, [...e.classList], e.dataset.ecfPastState ?? null])"""

#: Whether the page names ``instant`` and every row on screen is a past row in the state
#: ``expected`` gives for its path.
PAST_JS = """([instant, expected]) => {
  const when = document.querySelector('.ecfnb-past-when .ecfnb-past-instant');
  if (!when || when.dataset.instant !== instant) return false;
  const rows = [...document.querySelectorAll('.ecfnb-tree span.ecfnb-node')]
    .filter(e => e.offsetParent !== null);
  return rows.length === Object.keys(expected).length && rows.every(e =>
    e.classList.contains('ecfnb-past') && expected[e.dataset.ecfPath] === e.dataset.ecfPastState
    && e.classList.contains('ecfnb-state-' + e.dataset.ecfPastState));
}"""


def rows(page) -> list[tuple[str, list[str], str | None]]:
    return [tuple(row) for row in page.evaluate(ROWS_JS)]


def shown_instant(page) -> str | None:
    found = page.locator(".ecfnb-past-when .ecfnb-past-instant")
    return found.get_attribute("data-instant") if found.count() else None


def past_rows(page) -> dict[str, str | None]:
    """path -> the state a past row shows (None for a live row)."""
    return {path: (past if "ecfnb-past" in classes else None)
            for path, classes, past in rows(page)}


def wait_past(page, instant: datetime, expected: dict[str, str], timeout: float = 30
              ) -> float:
    """Wait until the page names ``instant`` and the rows on screen are ``expected``
    (path -> state); returns the seconds waited. Fails showing what the page shows."""
    start = time.monotonic()
    try:
        page.wait_for_function(PAST_JS, arg=[instant.isoformat(), expected],
                               timeout=timeout * 1000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: the asserts say what
        pass
    waited = time.monotonic() - start
    if past_rows(page) != expected:
        port = int(page.url and DEBUG_PORT[0])
        import ecfnb
        from ecfnb import Server
        h = ecfnb.history(Server("localhost", port))
        print("DEBUGROWS", rows(page), page.evaluate("() => [...document.querySelectorAll('.ecfnb-tree li.ecfnb-tree-node')].map(li => [li.dataset.id, li.querySelector(':scope > .ecfnb-tree-anchor').innerHTML, li.offsetParent !== null])"))
        print("DEBUGFAIL", instant, expected, past_rows(page), h.node("/hist/g", instant), h.suspensions, h.clock, h.source)
        print(client(port, "--log=get", "300").stdout.decode())
        print(open(h.source).read() if h.source.startswith("/") else "")
    assert shown_instant(page) == instant.isoformat()
    assert past_rows(page) == expected, rows(page)
    return waited


def states_of(taken: dict[str, tuple[str, str]]) -> dict[str, str]:
    """A snapshot's path -> state."""
    return {path: found[0] for path, found in taken.items()}


def states_in_log(changes: list[tuple[datetime, str, str]], instant: datetime,
                  paths) -> dict[str, str]:
    """Each path's last state line stamped at or before ``instant`` (no suspension is
    in the log by then)."""
    found = {}
    for moment, said, path in changes:
        if moment <= instant and path in paths:
            found[path] = said
    return found


def press(page, handle, key: str) -> None:
    handle.focus()
    page.keyboard.press(key)


# -- 1. the time slider ---------------------------------------------------------------------
def test_the_slider_draws_each_instant_as_the_server_said_then(lab, hist, page):
    port = hist.port
    DEBUG_PORT[:] = [port]
    time.sleep(1.0)  # the early snapshot: at least a second after the log's first one
    early, then = quiet_snapshot(port)
    time.sleep(1.1)  # the log stamps whole seconds: the suspension is in a later one
    client(port, "--suspend", "/hist/g")
    write_notebook(lab, "past.ipynb", explore_cell(hist.address, path="/hist/f/b",
                                                   interval=1))
    with shots(page, "history-slider"):
        open_and_run(page, lab, "past.ipynb")
        wait_shown(page, "/hist/f/b", timeout=30_000)
        expander(page, "/hist/g").click()
        anchor(page, "/hist/g/x").wait_for(state="visible", timeout=15_000)
        cells = page.locator(".jp-Notebook .jp-Cell").count()
        wait_for(lambda: snapshot(port)[1]["/hist/f/b"] == ("aborted", "2"), timeout=60,
                 what="b aborted on its second try")
        late, now = quiet_snapshot(port)
        assert states_of(then)["/hist/f/b"] != "aborted" and then["/hist/g"][0] != "suspended"
        assert states_of(now)["/hist/g"] == "suspended"
        assert {p for p, _c, past in rows(page)} == set(now)  # every node on screen
        assert all(past is None for _p, _c, past in rows(page))

        # "past": the slider opens at its end, now: the late snapshot's states.
        page.locator("button.ecfnb-past-toggle").click()
        handle = page.locator(".ecfnb-past-slider .noUi-handle")
        handle.wait_for(state="visible", timeout=15_000)
        page.locator(".ecfnb-past-when .ecfnb-past-instant").wait_for(timeout=30_000)
        end = datetime.fromisoformat(shown_instant(page))
        assert end >= late.replace(microsecond=0), (end, late)
        wait_past(page, end, states_of(now))
        assert snapshot(port)[1] == now  # nothing changed from the late snapshot on

        # Home: the log's first second (read from the log here), its states as the
        # log's own lines give them.
        changes = log_changes(port, ZONE)
        first = changes[0][0]
        press(page, handle, "Home")
        home = wait_past(page, first, states_in_log(changes, first, set(now)))
        assert float(handle.get_attribute("aria-valuenow")) == 0

        # ArrowRight, a second a press, to the early snapshot's second.
        target = early.replace(microsecond=0)
        steps = round((target - first).total_seconds())
        assert steps >= 1, (first, early)
        arrows = []
        for step in range(1, steps + 1):
            moment = first + timedelta(seconds=step)
            start = time.monotonic()
            press(page, handle, "ArrowRight")
            page.locator(f'.ecfnb-past-when .ecfnb-past-instant[data-instant='
                         f'"{moment.isoformat()}"]').wait_for(timeout=30_000)
            arrows.append(time.monotonic() - start)
        arrows[-1] += wait_past(page, target, states_of(then))
        screenshot(page, "history-slider-early")

        # PageUp, five seconds a press, back to the slider's end: the late states. (Not
        # End: ipywidgets' noUiSlider sends End to the maximum the slider was drawn
        # with, 0 here, not the one it has since the log was read.)
        pages = []
        moment = target
        while moment < end:
            moment = min(end, moment + timedelta(seconds=5))
            start = time.monotonic()
            press(page, handle, "PageUp")
            page.locator(f'.ecfnb-past-when .ecfnb-past-instant[data-instant='
                         f'"{moment.isoformat()}"]').wait_for(timeout=30_000)
            pages.append(time.monotonic() - start)
        pages[-1] += wait_past(page, end, states_of(now))
        assert page.locator(".jp-Notebook .jp-Cell").count() == cells  # keys stayed here
        print(f"slider step redraw in the browser: Home {home * 1000:.0f} ms, "
              f"ArrowRight {', '.join(f'{a * 1000:.0f}' for a in arrows)} ms, "
              f"PageUp {', '.join(f'{p * 1000:.0f}' for p in pages)} ms ({len(now)} rows)")

        # "past" again: every row live, in its state now.
        page.locator("button.ecfnb-past-toggle").click()
        handle.wait_for(state="hidden", timeout=15_000)
        wait_for(lambda: all(past is None for past in past_rows(page).values()),
                 timeout=15, what="every row live again")
        assert shown_instant(page) is None
        for path, classes, _past in rows(page):
            live = client(port, "--query", "dstate", path).stdout.decode().strip()
            assert f"ecfnb-state-{live}" in classes, (path, classes, live)
            assert "ecfnb-past" not in classes


# -- 2. the Forecast tab --------------------------------------------------------------------
CRITICAL = {"/fc/run/a", "/fc/run/b", "/fc/run/c", "/fc/run/d", "/fc/tail/e"}
COLUMNS = ("node", "now", "earliest", "expected", "latest", "deadline", "verdict", "why")
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def forecast_rows(page) -> dict[str, dict[str, str]]:
    """path -> {column: text, 'critical': '1' or '', 'verdict_class': ...} of the table."""
    found = page.locator(".ecfnb-forecast-view tr.ecfnb-forecast-row").evaluate_all(
        """trs => trs.map(tr => [tr.dataset.path, tr.classList.contains('ecfnb-critical'),
             [...tr.cells].map(td => td.innerText.trim()), tr.cells[6].className])""")
    return {path: {**dict(zip(COLUMNS, cells, strict=True)), "critical": "1" if on else "",
                   "verdict_class": verdict} for path, on, cells, verdict in found}


def on_day_near(clock: str, near: datetime) -> datetime:
    """'HH:MM:SS' (UTC) as the moment nearest ``near`` (the day is not shown)."""
    hour, minute, second = map(int, clock.split(":"))
    day = near.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return min((day + timedelta(days=d) for d in (-1, 0, 1)), key=lambda m: abs(m - near))


def test_the_forecast_tab_ranges_the_run_and_its_critical_path(lab, fc, page):
    port = fc.port
    write_notebook(lab, "forecast.ipynb", explore_cell(fc.address, path="/fc/run/a",
                                                       interval=1))
    with shots(page, "history-forecast"):
        open_and_run(page, lab, "forecast.ipynb")  # while the first run goes on
        wait_shown(page, "/fc/run/a", timeout=30_000)
        wait_for(lambda: state(port, "/fc") == "complete", timeout=120,
                 what="the first run of /fc")
        time.sleep(1.1)  # the log stamps whole seconds: runs apart
        client(port, "--requeue=force", "/fc")
        requeued = datetime.now(timezone.utc)
        wait_for(lambda: state(port, "/fc/run/a") in ("submitted", "active"), timeout=60,
                 what="a running in the second run")

        anchor(page, "/fc").click()
        wait_shown(page, "/fc")
        click_tab(page, "Forecast")
        view = page.locator(".ecfnb-forecast-view")
        summary = view.locator(".ecfnb-forecast-summary")
        summary.filter(has_text="/fc completes").wait_for(timeout=30_000)
        shown = forecast_rows(page)
        checked_at = datetime.now(timezone.utc)
        assert {p for p, row in shown.items() if row["critical"]} == CRITICAL, shown
        assert "Critical path: /fc/run/a → /fc/run/b → /fc/run/c → /fc/run/d → " \
               "/fc/tail/e" in view.inner_text()

        # A deadline an hour ahead (UTC), typed in: /fc is on time.
        deadline = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(
            second=0, microsecond=0)
        box = page.locator(".ecfnb-forecast-deadline input")
        box.fill(f"{deadline:%Y-%m-%d %H:%M}")
        box.press("Enter")
        summary.filter(has_text=f"deadline {deadline:%Y-%m-%d %H:%M:%S} UTC").wait_for(
            timeout=30_000)
        read_at = datetime.now(timezone.utc)
        text, shown = summary.inner_text(), forecast_rows(page)
        row = shown["/fc"]
        assert (row["verdict"], row["verdict_class"]) == ("on time", "ecfnb-verdict-on-time")
        assert row["deadline"] == f"{deadline:%H:%M:%S}"
        assert text.endswith("(the operator's deadline): on time"), text
        earliest = on_day_near(row["earliest"], read_at)
        latest = on_day_near(row["latest"], read_at)
        said = [datetime.fromisoformat(s).replace(tzinfo=timezone.utc)
                for s in STAMP.findall(text)]
        assert said[:2] == [earliest, latest], (text, row)  # the cells are the summary's
        assert earliest <= on_day_near(row["expected"], read_at) <= latest
        assert state(port, "/fc") != "complete"  # shown while the run goes on
        screenshot(page, "history-forecast-tab")
        print("DEBUG critical check at", checked_at, "requeued", requeued)

        # A path in the table selects that node in the tree.
        view.locator('tr.ecfnb-forecast-row[data-path="/fc/tail/e"] code.ecfnb-link').click()
        wait_shown(page, "/fc/tail/e")
        page.locator('.ecfnb-tree li.ecfnb-tree-selected > span.ecfnb-tree-anchor > '
                     'span[data-ecf-path="/fc/tail/e"]').wait_for(timeout=10_000)

        wait_for(lambda: state(port, "/fc") == "complete", timeout=120,
                 what="the second run of /fc")
        ends = [m for m, said, path in log_changes(port, ZONE) if path == "/fc" and said == "complete"]
        assert len(ends) == 2, ends
        assert earliest <= ends[-1] <= latest, (earliest, ends[-1], latest)
        print("DEBUG", [(f"{m:%H:%M:%S}", s_, p_) for m, s_, p_ in log_changes(port, ZONE) if m >= requeued.replace(microsecond=0) and p_.startswith("/fc/run/")][:30], earliest, latest, ends[-1])
