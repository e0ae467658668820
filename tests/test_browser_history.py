"""The explorer's time slider and the Forecast tab in a real browser: JupyterLab in
Debian's chromium, a real ecflow_server under TZ=Asia/Tokyo (its log is not in UTC).

What the page shows is checked against what the server said, read here without ecfnb:

- the time slider: test_history's /hist suite (ECF_TRIES 2, /hist/f/b aborts twice,
  /hist/g suspended in between). ``--get_state`` snapshots with nothing changing near
  them (test_history's ``quiet_snapshot``) give the tree at an early and a late instant.
  Clicking "past" draws every node row on screen as it was at the slider's instant (at
  first its end: the late snapshot); keys pressed on the slider's handle redraw them
  as they were at the instant the page names (Home: the log's first second, in the
  states the log's own lines give; ArrowRight, a second a press, to the early
  snapshot's second; PageUp back to the end; Home and End once more). "past" again:
  every row live, in the state ``--query dstate`` gives;
- the Forecast tab: test_forecast's /fc (a repeat 1..2 under a one-token limit, run
  once for the durations, then requeued): while the second run goes on, the range, the
  critical path a → b → c → d → e, a deadline typed in (UTC) "on time", a click on a
  path selects it in the tree; and the completion the server's log then shows lies
  inside the range the page showed.

The time a slider step takes to redraw the rows in the browser is printed (not asserted).
"""

from __future__ import annotations

import contextlib
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser_panels import (
    explore_cell,
    serve,
    shots,
    wait_shown,
)
from test_forecast import FILES as FC_FILES
from test_forecast import SUITE as FC_SUITE
from test_forecast import ZONE, state
from test_history import FILES as HIST_FILES
from test_history import SUITE as HIST_SUITE
from test_history import quiet_snapshot, snapshot

from browser import (
    anchor,
    click_tab,
    expander,
    kernels_page,
    open_and_run,
    own_user_lab,
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
    with kernels_page(lab, ports) as page:
        yield page


@pytest.fixture
def hist(ports):
    """/hist with a longer a (the early snapshot is taken while it runs) and an x that
    runs past the test (nothing under the suspended /hist/g changes)."""
    yield from serve(ports, definition=HIST_SUITE, env={"TZ": ZONE}, files={
        **HIST_FILES, "hist/f/a.ecf": job("sleep 4"), "hist/g/x.ecf": job("sleep 600")})


@pytest.fixture
def fc(ports):
    yield from serve(ports, definition=FC_SUITE, files=FC_FILES, env={"TZ": ZONE})


# -- helpers --------------------------------------------------------------------------------
#: The node rows on screen: (path, its label's classes, data-ecf-past-state or null).
ROWS_JS = """() => [...document.querySelectorAll('.ecfnb-tree span.ecfnb-node')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e.dataset.ecfPath, [...e.classList], e.dataset.ecfPastState ?? null])"""

#: Whether the page names ``instant`` and every node row on screen is a past row in the
#: state ``expected`` (path -> state) gives, its state class too.
PAST_JS = """([instant, expected]) => {
  const when = document.querySelector('.ecfnb-past-when .ecfnb-past-instant');
  if (!when || when.dataset.instant !== instant) return false;
  const rows = (ROWS)();
  return rows.length === Object.keys(expected).length && rows.every(([path, cls, past]) =>
    cls.includes('ecfnb-past') && past === expected[path] &&
    cls.includes('ecfnb-state-' + past));
}""".replace("ROWS", ROWS_JS)


def rows(page) -> list[tuple[str, list[str], str | None]]:
    return [tuple(row) for row in page.evaluate(ROWS_JS)]


def past_rows(page) -> dict[str, str | None]:
    """path -> the state its row shows as past (None for a live row)."""
    return {path: (past if "ecfnb-past" in classes else None)
            for path, classes, past in rows(page)}


def shown_instant(page) -> str | None:
    found = page.locator(".ecfnb-past-when .ecfnb-past-instant")
    return found.get_attribute("data-instant") if found.count() else None


def wait_past(page, instant: datetime, expected: dict[str, str], timeout: float = 30
              ) -> None:
    """Wait until the page names ``instant`` and its rows show ``expected`` (PAST_JS);
    else fail showing what they show."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(PAST_JS, arg=[instant.isoformat(), expected],
                               timeout=timeout * 1000)
    assert shown_instant(page) == instant.isoformat()
    assert past_rows(page) == expected, f"{rows(page)}"
    assert all(f"ecfnb-state-{past}" in classes for _p, classes, past in rows(page))


def step(page, key: str, instant: datetime, expected: dict[str, str] | None = None
         ) -> float:
    """Press ``key`` on the slider's handle; wait until the page names ``instant`` (and
    shows ``expected`` when given). Returns the seconds from the key to the redraw."""
    handle = page.locator(".ecfnb-past-slider .noUi-handle")
    handle.focus()
    start = time.monotonic()
    page.keyboard.press(key)
    if expected is None:
        page.locator(f'.ecfnb-past-when .ecfnb-past-instant[data-instant='
                     f'"{instant.isoformat()}"]').wait_for(timeout=30_000)
    else:
        wait_past(page, instant, expected)
    return time.monotonic() - start


def states_of(taken: dict[str, tuple[str, str]]) -> dict[str, str]:
    """A snapshot's path -> state."""
    return {path: state for path, (state, _try) in taken.items()}


def states_in_log(changes: list[tuple[datetime, str, str]], instant: datetime,
                  paths) -> dict[str, str]:
    """Each path's last state line stamped at or before ``instant`` (the log read here;
    no suspension is in it yet)."""
    found = {}
    for moment, said, path in changes:
        if moment <= instant and path in paths:
            found[path] = said
    return found


# -- 1. the time slider ---------------------------------------------------------------------
def test_the_slider_draws_each_instant_as_the_server_said_then(lab, hist, page):
    port = hist.port
    time.sleep(1.0)  # the early reading: at least a second after the log's first one
    early, taken = quiet_snapshot(port)
    then = states_of(taken)
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
        late, taken = quiet_snapshot(port)
        now = states_of(taken)
        assert then["/hist/g"] == "active" and then["/hist/f/b"] != now["/hist/f/b"], then
        assert (now["/hist/f/b"], now["/hist/g"]) == ("aborted", "suspended"), now
        assert {path for path, _c, _s in rows(page)} == set(now)  # every node on screen
        assert all(past is None for past in past_rows(page).values())

        # "past": the slider opens at its end, now: the late reading's states.
        page.locator("button.ecfnb-past-toggle").click()
        handle = page.locator(".ecfnb-past-slider .noUi-handle")
        handle.wait_for(state="visible", timeout=15_000)
        page.locator(".ecfnb-past-when .ecfnb-past-instant").wait_for(timeout=30_000)
        end = datetime.fromisoformat(shown_instant(page))
        assert end >= late.replace(microsecond=0), (end, late)
        wait_past(page, end, now)
        assert states_of(snapshot(port)[1]) == now  # nothing changed since the late one

        # Home: the log's first second (the log read here), in the states its own lines
        # give by then.
        changes = log_changes(port, ZONE)
        first = changes[0][0]
        home = step(page, "Home", first, states_in_log(changes, first, set(now)))
        assert float(handle.get_attribute("aria-valuenow")) == 0

        # ArrowRight, a second a press, to the early reading's second: its states.
        target = early.replace(microsecond=0)
        seconds = round((target - first).total_seconds())
        assert seconds >= 1, (first, early)
        arrows = [step(page, "ArrowRight", first + timedelta(seconds=n))
                  for n in range(1, seconds)]
        arrows.append(step(page, "ArrowRight", target, then))

        # PageUp, five seconds a press, back to the slider's end: the late states.
        pages, moment = [], target
        while moment + timedelta(seconds=5) < end:
            moment += timedelta(seconds=5)
            pages.append(step(page, "PageUp", moment))
        pages.append(step(page, "PageUp", end, now))
        # Home and End: the two ends (the browser's slider keeps the range it was drawn
        # with for these keys: the slider is made anew when the log's span is read)
        step(page, "Home", first, states_in_log(changes, first, set(now)))
        step(page, "End", end, now)
        assert page.locator(".jp-Notebook .jp-Cell").count() == cells  # keys stayed here
        print(f"slider step to redrawn rows in the browser: Home {home * 1000:.0f} ms, "
              f"ArrowRight {', '.join(f'{a * 1000:.0f}' for a in arrows)} ms, PageUp "
              f"{', '.join(f'{p * 1000:.0f}' for p in pages)} ms ({len(now)} rows)")

        # "past" again: every row live, in its state now.
        page.locator("button.ecfnb-past-toggle").click()
        handle.wait_for(state="hidden", timeout=15_000)
        wait_for(lambda: all(past is None for past in past_rows(page).values()),
                 timeout=15, what="every row live again")
        assert shown_instant(page) is None
        for path, classes, _past in rows(page):
            # dstate: the state drawn, suspension included ('state' omits it)
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
        wait_for(lambda: state(port, "/fc/run/a") in ("submitted", "active"), timeout=60,
                 what="a running in the second run")

        anchor(page, "/fc").click()
        wait_shown(page, "/fc")
        click_tab(page, "Forecast")
        view = page.locator(".ecfnb-forecast-view")
        summary = view.locator(".ecfnb-forecast-summary")
        summary.filter(has_text="/fc completes").wait_for(timeout=30_000)
        shown = forecast_rows(page)
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

        # A path in the table selects that node in the tree.
        view.locator('tr.ecfnb-forecast-row[data-path="/fc/tail/e"] code.ecfnb-link').click()
        wait_shown(page, "/fc/tail/e")
        page.locator('.ecfnb-tree li.ecfnb-tree-selected > span.ecfnb-tree-anchor > '
                     'span[data-ecf-path="/fc/tail/e"]').wait_for(timeout=10_000)

        wait_for(lambda: state(port, "/fc") == "complete", timeout=120,
                 what="the second run of /fc")
        ends = [m for m, what, path in log_changes(port, ZONE)
                if path == "/fc" and what == "complete"]
        assert len(ends) == 2, ends
        assert earliest <= ends[-1] <= latest, (earliest, ends[-1], latest)
