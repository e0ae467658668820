"""When will it be done? ``forecast(server, "/suite/family")``: a completion range for a
node and every family and task below it, the critical path, and each ``late`` and
operator deadline against it; ``replay(...)``: the same forecast made at past
instants of a logged day, scored against what happened.

No operator tool has this: ecflow_ui flags a node late once it is; this says before.

How, from what the server and its log hold (nothing guessed silently):
- each task's duration, submission to completion (from the first try's, when the
  server retried it), from its completed runs in the log
  (every cycle of a repeating family is a run of the same path): the shortest, the
  median and the longest (widened by a quarter when there are fewer than three runs).
  A task the log never saw complete borrows its family's (else its suite's, else the
  server's) durations, from nothing to the longest, and says so;
- the live definition (``Server.plan``) run forward in time by the server's own rules
  (``_server/world``: triggers, complete expressions, limits and their tokens,
  suspensions, the family states): at each moment a job ends, the submission pass
  runs again, as the server's does (looking again only at the tasks the change can
  release: the ones naming a node that changed, those a freed limit token lets go,
  those under a time when it comes). A ``time``/``today`` holds a task until its next
  slot on the suite's clock (UTC plus the suite's gain, ``Server.suite_clock``; a time
  series, until its last slot of the day), a ``date``/``day`` until that day; a
  ``cron`` is not forecast (its next run is the server's to say). A repeating family
  runs its remaining steps (up to ``MAX_STEPS``: a longer repeat's end is not
  forecast). Running jobs end at their start plus the duration (at once, if already
  longer: 'overrunning');
- three runs of that simulation, every task at its shortest, median and longest
  duration, give the range (earliest, expected, latest): an envelope, not a
  probability;
- what never completes in the simulation (an aborted task, a suspension, a trigger
  nothing satisfies, a cron) has no end, and the reason is given.

The critical path is the chain of tasks that set the expected end: the node's last
task to finish, then whatever completion released it, back to a task that could start
at once. ``late -c`` (complete by a time of day, or within +hh:mm of becoming active)
and ``late -a`` (active by a time of day) are compared with the forecast; so is a
``deadline`` the operator gives: 'on time' (even the latest end is before it), 'at
risk' (the range spans it), 'late' (even the earliest end is after it).
"""

from __future__ import annotations

import bisect
import heapq
import os
import re
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from html import escape
from typing import Any

from .._base.html import state_chip
from .._server.nodes import parse_time
from .._server.server import Server, normalise_path
from .._server.walks import Plan, PlanNode
from .._server.world import DAYS, SubmissionPass, World, parsed, requeue, resolved
from .cycles import node_cycles
from .history import BEFORE_THE_LOG, History, as_instant, history
from .timeline import Run, read_runs

__all__ = ["forecast", "replay", "Forecast", "NodeForecast", "Estimate", "Replay",
           "ReplayPoint", "SCENARIOS", "deadline_instant"]

#: The three simulations, each task at this duration of its Estimate.
SCENARIOS = ("earliest", "expected", "latest")
#: Fewer completed runs than this and a task's range is widened (a quarter each way).
FEW_RUNS = 3
#: A repeat with more steps left than this is not run out: its end is not forecast
#: (a daily repeat over a year would run every task hundreds of times).
MAX_STEPS = 50
_TASKS = ("task", "alias")


@dataclass(frozen=True)
class Estimate:
    """A task's duration, submission to completion: ``low``/``typical``/``high`` and
    where they come from (``runs`` completed runs of its own, or 'family', 'suite',
    'server' when borrowed, 'none' when the log has no completed run at all)."""

    path: str
    low: timedelta
    typical: timedelta
    high: timedelta
    runs: int
    source: str

    def at(self, scenario: str) -> timedelta:
        return {"earliest": self.low, "expected": self.typical, "latest": self.high}[scenario]


@dataclass(frozen=True)
class NodeForecast:
    """One node's forecast: its state now, when it starts (tasks) and ends in each
    scenario (None: not in sight, ``why`` says what stops it), its deadline (the
    earliest of its ``late`` and the operator's) and the verdict against it."""

    path: str
    kind: str
    state: str
    start: datetime | None
    earliest: datetime | None
    expected: datetime | None
    latest: datetime | None
    why: str = ""
    deadline: datetime | None = None
    deadline_from: str = ""
    verdict: str = ""
    estimate: Estimate | None = None

    @property
    def done(self) -> bool:
        return self.state == "complete"


@dataclass(frozen=True)
class Forecast:
    """The forecast for ``path`` made at ``made_at`` (UTC, the server's clock)."""

    path: str
    made_at: datetime
    nodes: dict[str, NodeForecast] = field(repr=False)
    critical_path: tuple[str, ...]
    notes: tuple[str, ...] = ()
    complete: bool = True
    seconds: float = 0.0

    def __getitem__(self, path: str) -> NodeForecast:
        return self.nodes[normalise_path(path)]

    @property
    def node(self) -> NodeForecast:
        return self.nodes[self.path]

    @property
    def earliest(self) -> datetime | None:
        return self.node.earliest

    @property
    def expected(self) -> datetime | None:
        return self.node.expected

    @property
    def latest(self) -> datetime | None:
        return self.node.latest

    @property
    def verdict(self) -> str:
        return self.node.verdict

    def at_risk(self) -> list[NodeForecast]:
        """The nodes whose forecast is 'late' or 'at risk' against their deadline."""
        return [n for n in self.nodes.values() if n.verdict in ("late", "at risk")]

    def summary(self) -> str:
        one = self.node
        if one.done:
            return f"{self.path} is complete (since {_at(one.expected)})"
        if one.expected is None:
            return f"{self.path}: no completion in sight — {one.why}"
        text = (f"{self.path} completes {_at(one.earliest)} – {_at(one.latest)} "
                f"(expected {_at(one.expected)})")
        if one.deadline is not None:
            text += f"; deadline {_at(one.deadline)} ({one.deadline_from}): {one.verdict}"
        return text

    def __repr__(self) -> str:
        return f"<Forecast made {self.made_at:%Y-%m-%d %H:%M:%S} UTC: {self.summary()}>"

    def _repr_html_(self) -> str:
        return forecast_html(self)


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "?"


def forecast_html(found: Forecast, rows: int = 60) -> str:
    """The forecast as a page: the summary, the critical path, then the families and
    tasks not complete yet (the path's own first), each with its range and verdict."""
    def hm(moment: datetime | None) -> str:
        return f"{moment:%H:%M:%S}" if moment else "—"
    shown = [n for n in found.nodes.values() if not n.done or n.path == found.path]
    shown.sort(key=lambda n: (n.path != found.path, n.kind in _TASKS,
                              n.expected or datetime.max.replace(tzinfo=timezone.utc)))
    critical = set(found.critical_path)
    body = "".join(
        f"<tr class='ecfnb-forecast-row{' ecfnb-critical' if n.path in critical else ''}' "
        f"data-path='{escape(n.path)}'><td><code class='ecfnb-link' data-ecfnb-op='select' "
        f"data-ecfnb-arg='{escape(n.path)}'>{escape(n.path)}</code></td>"
        f"<td>{state_chip(n.state)}</td><td>{hm(n.earliest)}</td><td>{hm(n.expected)}</td>"
        f"<td>{hm(n.latest)}</td><td>{hm(n.deadline)}</td>"
        f"<td class='ecfnb-verdict-{escape(n.verdict.replace(' ', '-'))}'>"
        f"{escape(n.verdict)}</td><td>{escape(n.why)}</td></tr>"
        for n in shown[:rows])
    more = f"<p>{len(shown) - rows} more not shown</p>" if len(shown) > rows else ""
    path = " → ".join(f"<code>{escape(p)}</code>" for p in found.critical_path) or "—"
    notes = "".join(f"<li>{escape(n)}</li>" for n in found.notes)
    return (f"<div class='ecfnb-forecast'><p class='ecfnb-forecast-summary'>"
            f"{escape(found.summary())}</p><p>Made {_at(found.made_at)}; times UTC. "
            f"Critical path: {path}</p><table><tr><th>node</th><th>now</th><th>earliest"
            f"</th><th>expected</th><th>latest</th><th>deadline</th><th>verdict</th>"
            f"<th>why</th></tr>{body}</table>{more}"
            f"{f'<ul>{notes}</ul>' if notes else ''}</div>")


# -- durations from the log ------------------------------------------------------------------
def estimates(runs: Iterable[Run], tasks: Iterable[str], before: datetime | None = None
              ) -> dict[str, Estimate]:
    """An Estimate for each of ``tasks`` from the completed ``runs`` (ended by ``before``
    when given: a replay knows only the past). A run that completes a retry (ECF_TRIES)
    counts from its first try's submission: the failed tries are part of the wait."""
    seen: dict[str, list[timedelta]] = {}
    first: dict[str, datetime | None] = {}  # path -> its first try's submission
    path_failed: dict[str, bool] = {}  # path -> whether its last run aborted
    for run in runs:
        if before is not None and (run.end is None or run.end > before):
            continue
        if run.try_no <= 1 or path_failed.get(run.path) is not True:
            first[run.path] = run.submitted or run.active
        path_failed[run.path] = run.outcome == "aborted"
        began = first.get(run.path)
        if run.outcome != "complete" or run.end is None or began is None:
            continue
        seen.setdefault(run.path, []).append(run.end - began)
    own = {path: _spread(path, times, len(times), str(len(times))) for path, times in
           seen.items()}
    found: dict[str, Estimate] = {}
    for path in tasks:
        if path in own:
            found[path] = own[path]
            continue
        for scope in ("family", "suite", "server"):
            prefix = {"family": path.rsplit("/", 1)[0] + "/",
                      "suite": "/" + path.strip("/").split("/", 1)[0] + "/",
                      "server": "/"}[scope]
            borrowed = [t for p, times in seen.items() if p.startswith(prefix) for t in times]
            if borrowed:
                found[path] = Estimate(path, timedelta(0), statistics.median(borrowed),
                                       max(borrowed), 0, scope)
                break
        else:
            found[path] = Estimate(path, timedelta(0), timedelta(0), timedelta(0), 0, "none")
    return found


def _running(node: PlanNode, estimate: Estimate, elapsed: timedelta
             ) -> tuple[Estimate, str]:
    """A running task's estimate, knowing how long it has run: its first meter's
    progress gives its length when the log does not (``elapsed`` over the share done);
    a task already longer than its longest run is 'overrunning' (it may end any
    moment: its range starts now, and its longest is stretched to what it has run)."""
    meter = next((m for m in node.meters if len(m) > 3 and m[3] > m[2]), None)
    if estimate.runs == 0 and meter is not None and meter[1] > meter[2]:
        share = (meter[1] - meter[2]) / (meter[3] - meter[2])
        total = elapsed / share
        return Estimate(node.path, max(elapsed, total * 0.8), total, total * 1.25, 0,
                        f"meter {meter[0]} at {meter[1]} of {meter[3]}"), ""
    if elapsed > estimate.high:
        note = (f"{node.path} is overrunning: running {elapsed.total_seconds():.0f} s, "
                f"its longest run {estimate.high.total_seconds():.0f} s" if estimate.runs
                else "")
        return Estimate(node.path, elapsed, elapsed, elapsed * 1.25, estimate.runs,
                        estimate.source), note
    return estimate, ""


def dispatch_latency(runs: Iterable[Run], before: datetime | None = None,
                     within: timedelta = timedelta(seconds=10)) -> Estimate:
    """How long the server takes from a job's end to the submission it releases: each
    submission's distance from the latest run end before it (within ``within``), the
    shortest, median and longest. Measured on 5.9: about a second a step (the log's
    ``complete: a`` then ``submitted: b`` a second later), 40% of a chain of 1-2 s
    tasks; a forecast that left it out ended a run of eleven steps 5 s early."""
    ended = sorted(r.end for r in runs if r.end is not None
                   and (before is None or r.end <= before))
    gaps = []
    for run in runs:
        if run.submitted is None or (before is not None and run.submitted > before):
            continue
        index = bisect.bisect_right(ended, run.submitted)
        if index and run.submitted - ended[index - 1] <= within:
            gaps.append(run.submitted - ended[index - 1])
    if not gaps:
        return Estimate("", timedelta(0), timedelta(0), timedelta(0), 0, "none")
    return Estimate("", min(gaps), statistics.median(gaps), max(gaps), len(gaps),
                    f"{len(gaps)} submissions")


def _spread(path: str, times: list[timedelta], runs: int, source: str) -> Estimate:
    low, typical, high = min(times), statistics.median(times), max(times)
    if runs < FEW_RUNS:
        low, high = low * 0.75, high * 1.25
    return Estimate(path, low, typical, high, runs, source)


# -- time attributes on the suite's clock ----------------------------------------------------
_HM = re.compile(r"^\+?(\d{1,2}):(\d\d)$")


def _slots(value: str) -> list[tuple[int, int]]:
    """The (hour, minute) slots of a time/today value: 'hh:mm' or a series 'start end
    step'."""
    parts = value.split("#", 1)[0].split()
    found = [(int(m.group(1)), int(m.group(2))) for m in map(_HM.match, parts) if m]
    if len(found) == 3:
        (h1, m1), (h2, m2), (hs, ms) = found
        step, first, last = hs * 60 + ms, h1 * 60 + m1, h2 * 60 + m2
        if step > 0:
            return [(t // 60, t % 60) for t in range(first, last + 1, step)]
    return found[:1]


def release(node: PlanNode, now: datetime, held_now: bool | None) -> tuple[datetime | None, str]:
    """When ``node``'s time attributes let it run, on the suite's clock (naive), from
    ``now``: ``held_now`` is the server's word (ecFlow's why: True held, False free;
    None in a replay, where the time is read against ``now``). (None, why) when it
    cannot be told."""
    if held_now is False or not node.times:
        return now, ""
    latest = now
    for attr in node.times:
        kind, _, value = attr.partition(" ")
        value = value.strip()
        if kind in ("time", "today"):
            slots = _slots(value)
            if not slots:
                return None, f"{attr}: not read"
            today = [now.replace(hour=h, minute=m, second=0, microsecond=0) for h, m in slots]
            ahead = [t for t in today if t > now]
            if ahead:
                moment = ahead[-1] if len(slots) > 1 else ahead[0]
            elif held_now and kind == "time":  # the slots passed: the next day's first
                moment = today[0] + timedelta(days=1)
            else:
                moment = now
        elif kind == "day":
            wanted = DAYS.index(value.lower()) if value.lower() in DAYS else None
            if wanted is None:
                return None, f"{attr}: not read"
            days = (wanted - now.weekday()) % 7
            moment = now if days == 0 else datetime.combine(
                now.date() + timedelta(days=days), datetime.min.time())
        elif kind == "date":
            moment = _next_date(value, now)
            if moment is None:
                return None, f"{attr}: no such day ahead"
        else:
            return None, f"{attr}: a cron's next run is the server's to say"
        latest = max(latest, moment)
    return latest, ""


def _next_date(value: str, now: datetime) -> datetime | None:
    parts = (value.split(".") + ["*", "*"])[:3]
    for offset in range(0, 367 * 4):
        day = now.date() + timedelta(days=offset)
        if all(p == "*" or int(p) == have for p, have in
               zip(parts, (day.day, day.month, day.year), strict=True)):
            return now if offset == 0 else datetime.combine(day, datetime.min.time())
    return None


# -- the simulation ----------------------------------------------------------------------------
@dataclass
class _Run:
    """What one scenario found: each task's start and end, each node's end, what
    released each task (for the critical path), and why the rest never ran."""

    start: dict[str, datetime] = field(default_factory=dict)
    end: dict[str, datetime] = field(default_factory=dict)
    released_by: dict[str, str] = field(default_factory=dict)
    waits: dict[str, str] = field(default_factory=dict)
    finished: bool = True
    beyond: dict[str, int] = field(default_factory=dict)  # repeat -> steps not run


class _Clocked(SubmissionPass):
    """The server's pass with time attributes read against the simulation's clock."""

    def __init__(self, world: World, releases: dict[str, datetime | None],
                 offset: timedelta) -> None:
        super().__init__(world, None)
        self.releases = releases
        self.offset = offset  # suite clock - UTC
        self.now = datetime.min.replace(tzinfo=timezone.utc)

    def time_block(self, path: str) -> tuple[str, bool] | None:
        moment = self.releases.get(path, self.now)
        if moment is None:
            return f"{', '.join(self.world.nodes[path].times)}: not forecast", True
        if moment > self.now:
            when = (moment + self.offset).strftime("%H:%M")
            return f"time {when} (suite clock)", True
        return None


class _Simulation:
    """A world run forward: one scenario per ``run``."""

    def __init__(self, plan: Plan, estimates: dict[str, Estimate], now: datetime,
                 offset: timedelta, releases: dict[str, datetime | None],
                 began: dict[str, datetime], deadline: float, latency: Estimate) -> None:
        self.plan, self.estimates, self.now = plan, estimates, now
        self.latency = latency
        self.offset, self.releases, self.began = offset, releases, began
        self.deadline = deadline
        self.base = World(plan)
        self.tasks = [p for p in self.base.order if self.base.nodes[p].kind in _TASKS]
        self.order = {p: i for i, p in enumerate(self.tasks)}
        self._index()

    def _index(self) -> None:
        """Which tasks a change can release (the server's pass looks at every queued
        task each time; run forward over thousands of job ends that is quadratic:
        5,000 tasks took over 120 s): the tasks whose trigger or complete expression
        (theirs or a node's above) names a node, those in each limit, those under a
        time attribute. A change then looks again at those only, in the definition's
        order, which is the order the server's pass would take them in."""
        base = self.base
        self.watchers: dict[str, set[str]] = {}
        self.limit_users: dict[str, set[str]] = {}
        self.timed: set[str] = set()
        self.always: set[str] = set()  # an expression ecfnb cannot read: every time
        for task in self.tasks:
            texts = [(task, base.nodes[task].complete)] if base.nodes[task].complete else []
            for up in base.conditions(task):
                node = base.nodes[up]
                if node.trigger:
                    texts.append((up, node.trigger))
                if node.times:
                    self.timed.add(task)
                for name, written, _tokens, _only in node.inlimits:
                    key = base.limit_of(up, name, written)
                    if key is not None:
                        self.limit_users.setdefault(key, set()).add(task)
            for owner, text in texts:
                expr = parsed(text)
                if expr is None:
                    self.always.add(task)
                    continue
                parent = base.parent.get(owner, "/")
                for written, _attribute in expr.names:
                    self.watchers.setdefault(resolved(parent, written), set()).add(task)

    def _set(self, world: World, path: str, state: str, dirty: set[str]) -> None:
        """Change a task's state; the tasks that name it or a node above it whose state
        follows become worth looking at again."""
        chain = world.chain(path)
        before = [world.state[p] for p in chain]
        world.set(path, state)
        for up, old in zip(chain, before, strict=True):
            if world.state[up] != old:
                dirty.update(self.watchers.get(up, ()))

    def _release(self, world: World, path: str, dirty: set[str],
                 on_limit: dict[str, list[tuple[int, str]]]) -> None:
        """A job ended: its tokens go back, and as many of the tasks held by that limit
        (``on_limit``, first in the definition's order first) as it now has room for
        are looked at again; the others stay held (one held by a trigger is looked at
        when what it names changes)."""
        keys = [key for key, _tokens in world.held.get(path, ())]
        world.release_tokens(path)
        for key in keys:
            value, maximum, _holders = world.limits[key]
            waiting = on_limit.get(key, [])
            room = maximum - value
            while waiting and room > 0:
                _order, task = heapq.heappop(waiting)
                self.queued_on.discard(task)
                if self.held_by.get(task) == key:
                    dirty.add(task)
                    room -= 1

    def _hold(self, path: str, key: str, on_limit: dict[str, list[tuple[int, str]]]) -> None:
        """``path`` waits for a token of ``key``: in its queue, once."""
        if path not in self.queued_on:
            self.queued_on.add(path)
            heapq.heappush(on_limit.setdefault(key, []), (self.order[path], path))

    def _pass(self, world: World, pass_: _Clocked, dirty: set[str],
              waits: dict[str, tuple[str, bool]], on_limit: dict[str, list[tuple[int, str]]]
              ) -> list[str]:
        """The server's pass over the tasks worth looking at (``dirty``), in order,
        until nothing more changes: the tasks it submits. A task last held by a limit
        that is still full is passed over at once (a limit of 20 slots with 1,000
        tasks behind it: each job's end looked at all 1,000)."""
        started: list[str] = []
        held_by = self.held_by
        while dirty or self.always:
            batch = sorted(dirty | self.always, key=self.order.__getitem__)
            dirty.clear()
            progressed = False
            for path in batch:
                if world.state[path] != "queued":
                    waits.pop(path, None)
                    continue
                key = held_by.get(path)
                if key is not None:
                    value, maximum, _holders = world.limits[key]
                    if value >= maximum:  # still full: still held, as it was
                        self._hold(path, key, on_limit)
                        continue
                    del held_by[path]
                node = world.nodes[path]
                if node.complete and pass_.holds(path, node.complete):
                    self._set(world, path, "complete", dirty)  # its complete holds
                    waits.pop(path, None)
                    progressed = True
                    continue
                why = pass_.blocked(path, world.limits)
                if why is not None:
                    waits[path] = why
                    if why[0].startswith("limit ") and " is full" in why[0]:
                        limit = why[0][6:why[0].index(" is full")]
                        held_by[path] = limit
                        self._hold(path, limit, on_limit)
                    continue
                waits.pop(path, None)
                self._set(world, path, "submitted", dirty)
                pass_.take(path, world.limits)
                started.append(path)
                progressed = True
            if not progressed:
                break
        return started

    def run(self, scenario: str, horizon: timedelta = timedelta(days=7)) -> _Run:
        world = self.base.copy()
        found = _Run()
        clock = self.now
        pass_ = _Clocked(world, self.releases, self.offset)
        tasks, order = self.tasks, self.order
        ends: list[tuple[datetime, int, str]] = []
        dirty = {p for p in tasks if world.state[p] == "queued"}
        waits: dict[str, tuple[str, bool]] = {}
        on_limit: dict[str, list[tuple[int, str]]] = {}  # limit -> its held tasks, a heap
        self.held_by: dict[str, str] = {}  # task -> the limit that held it
        self.queued_on: set[str] = set()  # the tasks in a limit's queue
        for path in tasks:
            if world.state[path] in ("active", "submitted"):
                began = self.began.get(path, clock)
                finish = max(clock, began + self.estimates[path].at(scenario))
                found.start[path] = began
                heapq.heappush(ends, (finish, order[path], path))
            elif world.state[path] == "complete" and path in self.began:
                found.end[path] = self.began[path]
        steps = {p: _steps_left(n) for p, n in world.nodes.items() if n.repeat}
        cause: list[str] = []
        limit = self.now + horizon
        moments = sorted({m for m in self.releases.values() if m is not None})
        while True:
            if time.monotonic() > self.deadline:
                found.finished = False
                break
            pass_.now = clock
            started = self._pass(world, pass_, dirty, waits, on_limit)
            for path in started:
                begins = clock + self.latency.at(scenario)
                found.start[path] = begins
                if cause:
                    found.released_by[path] = self._releaser(world, path, cause)
                length = self.estimates[path].at(scenario)
                heapq.heappush(ends, (begins + length, order[path], path))
            due = bisect.bisect_right(moments, clock)
            choices = ([ends[0][0]] if ends else []) + (moments[due:due + 1] if waits else [])
            if not choices:
                found.waits = {p: why for p, (why, _d) in waits.items()}
                break
            next_time = min(choices)
            if next_time > limit:
                found.waits = {p: why for p, (why, _d) in waits.items()}
                break
            if due < len(moments) and moments[due] <= next_time:
                dirty.update(self.timed)  # a time came: what waits on one looks again
            clock = next_time
            cause = []
            while ends and ends[0][0] <= clock:
                _, _, path = heapq.heappop(ends)
                self._set(world, path, "complete", dirty)
                self._release(world, path, dirty, on_limit)
                found.end[path] = clock
                cause.append(path)
                self._families(world, path, clock, found, steps, dirty)
        for path, state in world.state.items():
            if state == "complete" and path not in found.end and path in self.began:
                found.end[path] = self.began[path]
        return found

    def _families(self, world: World, path: str, clock: datetime, found: _Run,
                  steps: dict[str, int], dirty: set[str]) -> None:
        """Record each node above ``path`` that completed now; a repeating one with
        steps left is requeued for its next step, as the server does (then all below
        it, and what names any of it, is looked at again)."""
        for up in world.chain(path)[1:]:
            if world.state[up] != "complete":
                return
            left = steps.get(up, 0)
            if left > MAX_STEPS:  # a long repeat (a date over a year...): not run out
                found.beyond[up] = left
                return
            if left > 0:
                steps[up] = left - 1
                requeue(world, up)
                for one in [*world.below(up), *world.chain(up)]:
                    dirty.update(self.watchers.get(one, ()))
                    if one in self.order:
                        dirty.add(one)
                return
            found.end[up] = clock

    def _releaser(self, world: World, path: str, cause: list[str]) -> str:
        """Which of the tasks that just ended released ``path``: one its triggers (or
        its ancestors') name, or one below a node they name, else the first (a limit
        token came back)."""
        named: set[str] = set()
        for up in world.chain(path):
            text = world.nodes[up].trigger
            expr = parsed(text) if text else None
            if expr is not None:
                parent = world.parent.get(up, "/")
                named.update(resolved(parent, written) for written, _a in expr.names)
        for done in cause:
            if done in named or any(done.startswith(n.rstrip("/") + "/") for n in named):
                return done
        return cause[0]


def _steps_left(node: PlanNode) -> int:
    """How many more times a repeat runs its node after the current step."""
    if node.repeat is None or len(node.repeat) < 6:
        return 0
    _name, value, _start, end, step, kind = node.repeat
    try:
        value_n, end_n, step_n = int(value), int(end), int(step)
    except ValueError:
        return 0
    if step_n == 0:
        return 0
    if kind == "date":
        try:
            a = date(value_n // 10000, value_n // 100 % 100, value_n % 100)
            b = date(end_n // 10000, end_n // 100 % 100, end_n % 100)
        except ValueError:
            return 0
        return max(0, (b - a).days // step_n)
    return max(0, (end_n - value_n) // step_n)


# -- the forecast ----------------------------------------------------------------------------
def _late_deadline(node: PlanNode, start: datetime | None, since: datetime | None,
                   offset: timedelta) -> tuple[datetime | None, str, str]:
    """The deadline a ``late`` attribute sets (UTC), what it bounds ('complete' or
    'active') and the text."""
    if not node.late:
        return None, "", ""
    parts = node.late.split()
    for flag, what in (("-c", "complete"), ("-a", "active")):
        if flag not in parts or parts.index(flag) + 1 >= len(parts):
            continue
        value = parts[parts.index(flag) + 1]
        found = _HM.match(value)
        if not found:
            continue
        span = timedelta(hours=int(found.group(1)), minutes=int(found.group(2)))
        if value.startswith("+"):
            if what == "complete" and start is not None:
                return start + span, what, f"late -c {value}"
            continue
        base = (since or start)
        if base is None:
            continue
        local = base + offset
        moment = local.replace(hour=span.seconds // 3600, minute=span.seconds // 60 % 60,
                               second=0, microsecond=0)
        if moment < local:
            moment += timedelta(days=1)
        return moment - offset, what, f"late {flag} {value}"
    return None, "", ""


def _verdict(earliest: datetime | None, latest: datetime | None,
             deadline: datetime | None) -> str:
    if deadline is None:
        return ""
    if earliest is None:
        return "late"  # nothing in sight completes it
    if latest is not None and latest <= deadline:
        return "on time"
    if earliest > deadline:
        return "late"
    return "at risk"


def project(plan: Plan, path: str, now: datetime, runs: list[Run], *,
            offset: timedelta = timedelta(0), held: dict[str, bool | None] | None = None,
            since: dict[str, datetime] | None = None, deadline: datetime | None = None,
            seconds: float = 5.0, known_before: datetime | None = None) -> Forecast:
    """The forecast for ``path`` from a Plan (states as they are at ``now``, UTC), the
    log's ``runs``, each node's ``since`` (when its state last changed) and, per node
    with time attributes, whether the server holds it on them now (``held``; None for
    a replay). ``offset``: the suite's clock minus UTC."""
    started = time.monotonic()
    notes: list[str] = []
    path = normalise_path(path)
    if path not in plan.nodes:
        raise KeyError(path)
    since = since or {}
    tasks = [p for p, n in plan.nodes.items() if n.kind in _TASKS]
    durations = estimates(runs, tasks, known_before)
    for p in tasks:
        if plan.nodes[p].state in ("active", "submitted") and p in since:
            durations[p], note = _running(plan.nodes[p], durations[p], now - since[p])
            if note:
                notes.append(note)
    local_now = (now + offset).replace(tzinfo=None)
    releases: dict[str, datetime | None] = {}
    for p, node in plan.nodes.items():
        if node.times:
            moment, why = release(node, local_now, (held or {}).get(p))
            releases[p] = None if moment is None else \
                moment.replace(tzinfo=timezone.utc) - offset
            if why:
                notes.append(f"{p}: {why}")
    began = {p: since[p] for p in plan.nodes if p in since}
    latency = dispatch_latency(runs, known_before)
    sim = _Simulation(plan, durations, now, offset, releases, began,
                      started + seconds, latency)
    found = {scenario: sim.run(scenario) for scenario in SCENARIOS}
    complete = all(r.finished for r in found.values())
    if not complete:
        notes.append(f"stopped at the {seconds:g} s budget: ends not found are unknown")
    borrowed = sum(1 for p in tasks if durations[p].runs == 0 and plan.nodes[p].state
                   not in ("complete",))
    if borrowed:
        notes.append(f"{borrowed} task(s) to run have no completed run in the log: their "
                     "durations are borrowed (see each task's estimate)")
    prefix = path.rstrip("/") + "/"
    nodes: dict[str, NodeForecast] = {}
    expected = found["expected"]
    memo: dict[str, str | None] = {}
    for p, node in plan.nodes.items():
        if not (p == path or p.startswith(prefix) or path == "/"):
            continue
        ends = [found[s].end.get(p) for s in SCENARIOS]
        why = "" if ends[1] is not None else _beyond(p, expected) or _why_not(
            p, plan, expected, memo)
        start = expected.start.get(p)
        late_at, late_what, late_text = _late_deadline(
            node, start if node.kind in _TASKS else None, since.get(p), offset)
        chosen, chosen_from = late_at, late_text
        checked = ends
        if late_what == "active":
            checked = [found[s].start.get(p) for s in SCENARIOS]
        if p == path and deadline is not None and (chosen is None or deadline < chosen):
            chosen, chosen_from, checked = deadline, "the operator's deadline", ends
        nodes[p] = NodeForecast(
            p, node.kind, "suspended" if node.suspended else node.state, start, ends[0],
            ends[1], ends[2], why, chosen, chosen_from,
            _verdict(checked[0], checked[2], chosen),
            durations.get(p) if node.kind in _TASKS else None)
    return Forecast(path, now, nodes, _critical(path, plan, expected), tuple(notes),
                    complete, time.monotonic() - started)


def _beyond(path: str, run: _Run) -> str:
    """Why a node under (or being) a long repeat has no end: that repeat."""
    for repeat, left in run.beyond.items():
        if path == repeat or repeat.startswith(path.rstrip("/") + "/"):
            return (f"{repeat}'s repeat has {left} steps to go, more than the forecast runs "
                    f"({MAX_STEPS})")
    return ""


def _why_not(path: str, plan: Plan, run: _Run, memo: dict[str, str | None]) -> str:
    """Why ``path`` never completes in the simulation: the first task below it (in the
    definition's order) that never ended, and what held it (``memo``: per node, that
    task, so that a whole tree's reasons cost one walk)."""
    stuck = _first_stuck(path, plan, run, memo)
    if stuck is None:
        return "not in sight"
    node = plan.nodes[stuck]
    if node.state == "aborted":
        return f"{stuck} is aborted: it waits for an operator (rerun or requeue it)"
    if stuck in run.waits:
        return f"{stuck} waits: {run.waits[stuck]}"
    if stuck in run.start:
        return f"{stuck} does not end in sight"
    return f"{stuck} is {node.state} and nothing in sight runs it"


def _first_stuck(path: str, plan: Plan, run: _Run, memo: dict[str, str | None]
                 ) -> str | None:
    if path in memo:
        return memo[path]
    node = plan.nodes[path]
    found: str | None = None
    if node.kind in _TASKS:
        found = path if path not in run.end else None
    else:
        for child in node.children:
            if child in plan.nodes:
                found = _first_stuck(child, plan, run, memo)
                if found is not None:
                    break
    memo[path] = found
    return found


def _critical(path: str, plan: Plan, run: _Run) -> tuple[str, ...]:
    """The tasks that set ``path``'s expected end, first to last."""
    prefix = path.rstrip("/") + "/"
    below = [p for p, n in plan.nodes.items() if n.kind in _TASKS and p in run.end
             and (p == path or p.startswith(prefix) or path == "/")
             and plan.nodes[p].state != "complete"]
    if not below:
        return ()
    last = max(below, key=lambda p: run.end[p])
    chain = [last]
    while chain[-1] in run.released_by and len(chain) < 10_000:
        before = run.released_by[chain[-1]]
        if before in chain:
            break
        chain.append(before)
    return tuple(reversed(chain))


def _live_inputs(server: Server, suite: str, seconds: float
                 ) -> tuple[Plan, datetime, timedelta, dict[str, bool | None],
                            dict[str, datetime]]:
    server.sync()
    plan = server.plan([suite], seconds)
    now = datetime.now(timezone.utc) + server.clock_skew()
    suite_now = server.suite_clock(suite)
    offset = timedelta(minutes=round(
        (suite_now - now.replace(tzinfo=None)).total_seconds() / 60))
    held = {p: ("dependent" in n.why and f"{p}(" in n.why) if n.why else False
            for p, n in plan.nodes.items() if n.times}
    since = {p: moment - offset for p, n in plan.nodes.items()
             for moment in [parse_time(n.since)] if moment is not None and n.since}
    return plan, now, offset, held, since


def forecast(server: Server, path: str, deadline: datetime | str | None = None, *,
             log_file: str | os.PathLike | None = None, max_lines: int = 100_000,
             tz: Any = None, assume_rerun: bool = False, seconds: float = 5.0) -> Forecast:
    """When ``path`` (a suite or family; a task too) and everything below it will
    complete: see the module's docstring. ``deadline``: the operator's, compared with
    the path's range (UTC: a datetime, 'YYYY-MM-DD HH:MM', or 'HH:MM', the next one).
    ``assume_rerun``: forecast as if every aborted task were rerun now (else an
    aborted task stops its families' forecast, as it stops the suite).
    The log as for ``timeline``/``history``; ``seconds`` bounds the simulation."""
    path = normalise_path(path)
    if path == "/":
        raise ValueError("forecast a suite or a node in it, e.g. forecast(server, '/demo')")
    chosen = deadline_instant(deadline) if deadline is not None else None
    suite = path.strip("/").split("/", 1)[0]
    server.summary(path)  # NodeNotFound, with its advice, before any work
    plan, now, offset, held, since = _live_inputs(server, suite, seconds)
    if assume_rerun:
        plan = Plan({p: n._replace(state="queued") if n.kind in _TASKS and n.state == "aborted"
                     else n for p, n in plan.nodes.items()}, plan.server_state, plan.complete)
    runs = read_runs(server, log_file, max_lines, tz)
    found = project(plan, path, now, runs, offset=offset, held=held, since=since,
                    deadline=chosen, seconds=seconds)
    if plan.server_state != "running":
        found = Forecast(found.path, found.made_at, found.nodes, found.critical_path,
                         found.notes + (f"the server is {plan.server_state}: nothing runs "
                                        "until it is restarted (the forecast assumes now)",),
                         found.complete, found.seconds)
    return found


def deadline_instant(value: datetime | str, now: datetime | None = None) -> datetime:
    """A deadline as an aware UTC moment: a datetime (naive = UTC), 'YYYY-MM-DD HH:MM'
    (UTC), or 'HH:MM' — the next such time on the UTC clock (the suites' clock)."""
    if isinstance(value, str) and _HM.match(value.strip()) and not value.startswith("+"):
        found = _HM.match(value.strip())
        assert found is not None
        hour, minute = int(found.group(1)), int(found.group(2))
        if hour > 23 or minute > 59:
            raise ValueError(f"bad deadline {value!r}: hours 0-23, minutes 0-59")
        now = now or datetime.now(timezone.utc)
        moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return moment if moment > now else moment + timedelta(days=1)
    return as_instant(value)


# -- scoring on a logged day -------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayPoint:
    """One instant of a replay: the forecast made then (range and expected end), the
    naive one (the path's last run's length from the start of this one), and when the
    path completed (from the log)."""

    instant: datetime
    earliest: datetime | None
    expected: datetime | None
    latest: datetime | None
    naive: datetime | None
    actual: datetime | None

    @property
    def error(self) -> timedelta | None:
        return abs(self.expected - self.actual) if self.expected and self.actual else None

    @property
    def naive_error(self) -> timedelta | None:
        return abs(self.naive - self.actual) if self.naive and self.actual else None

    @property
    def inside(self) -> bool | None:
        if self.actual is None or self.earliest is None or self.latest is None:
            return None
        return self.earliest <= self.actual <= self.latest


@dataclass(frozen=True)
class Replay:
    """A forecast replayed at several instants of a logged day, and its error."""

    path: str
    points: tuple[ReplayPoint, ...]

    @staticmethod
    def _median(values: list[timedelta | None]) -> timedelta | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    @property
    def median_error(self) -> timedelta | None:
        return self._median([p.error for p in self.points])

    @property
    def naive_median_error(self) -> timedelta | None:
        return self._median([p.naive_error for p in self.points])

    @property
    def coverage(self) -> float | None:
        """The share of instants whose actual end lay inside the forecast range."""
        known = [p.inside for p in self.points if p.inside is not None]
        return sum(known) / len(known) if known else None

    def __repr__(self) -> str:
        def s(v: timedelta | None) -> str:
            return f"{v.total_seconds():.0f} s" if v is not None else "?"
        cover = f"{self.coverage:.0%}" if self.coverage is not None else "?"
        return (f"<Replay {self.path}: {len(self.points)} instants, median error "
                f"{s(self.median_error)} (last-duration forecast {s(self.naive_median_error)}),"
                f" actual inside the range {cover}>")


def replay(server: Server, path: str, instants: Iterable[datetime | str], *,
           log_file: str | os.PathLike | None = None, max_lines: int = 100_000,
           tz: Any = None, seconds: float = 5.0) -> Replay:
    """Forecast ``path`` as it would have been forecast at each of ``instants`` (inside
    the log's span), from the tree then (``history``) and the runs that had ended by
    then, and score it against when the path next completed (the log)."""
    path = normalise_path(path)
    suite = path.strip("/").split("/", 1)[0]
    past = history(server, log_file=log_file, max_lines=max_lines, tz=tz)
    runs = read_runs(server, log_file, max_lines, tz)
    server.sync()
    plan = server.plan([suite], seconds)
    points = []
    for when in instants:
        instant = as_instant(when)
        points.append(_replay_point(past, plan, path, instant, runs, seconds))
    return Replay(path, tuple(points))


def _replay_point(past: History, plan: Plan, path: str, instant: datetime,
                  runs: list[Run], seconds: float) -> ReplayPoint:
    tree = past.at(instant)
    began = _run_start(past, path, instant)
    nodes = {}
    since: dict[str, datetime] = {}
    for p, node in plan.nodes.items():
        was = tree.nodes.get(p)
        state = was.state if was is not None else node.state
        suspended = state == "suspended"
        if state in ("suspended", BEFORE_THE_LOG):  # what is under either: not told
            state = "queued"
        nodes[p] = node._replace(state=state, suspended=suspended,
                                 events=tuple((e[0], e[2], e[2]) for e in node.events),
                                 limits=tuple((n, 0, m, ()) for n, _v, m, _h in node.limits),
                                 repeat=_repeat_then(past, node, instant, began))
        if was is not None and was.since is not None:
            since[p] = was.since
    then = Plan(nodes, "running", True)
    world = World(then)
    taker = SubmissionPass(world, None)
    for p, node in nodes.items():  # the tokens the jobs running then held
        if node.kind in _TASKS and node.state in ("active", "submitted"):
            taker.take(p, world.limits)
    nodes = {p: n._replace(limits=tuple(
        (name, world.limits[f"{p}:{name}"][0], m, tuple(world.limits[f"{p}:{name}"][2]))
        for name, _v, m, _h in n.limits)) for p, n in nodes.items()}
    then = Plan(nodes, "running", True)
    found = project(then, path, instant, runs, held=None, since=since, seconds=seconds,
                    known_before=instant)
    actual = next((moment for moment, state, _t, _r in past.changes_of(path)
                   if moment > instant and state == "complete"), None)
    return ReplayPoint(instant, found.earliest, found.expected, found.latest,
                       _naive(past, path, instant), actual)


def _run_start(past: History, path: str, instant: datetime) -> datetime | None:
    """When the run of ``path`` under way at ``instant`` began (``cycles``: its first
    submission after it last completed; None if none is under way)."""
    found = node_cycles([c for c in past.changes_of(path) if c[0] <= instant])
    return found[-1].start if found and found[-1].end is None else None


def _repeat_then(past: History, node: PlanNode, instant: datetime, began: datetime | None
                 ) -> tuple[str, str, str, str, str, str] | None:
    """A repeat's value at ``instant``: the log keeps no values, but each step ends in
    a completion of its node (then requeued for the next, in the same second: measured
    on 5.9), so the steps done are its completions since the run of the path replayed
    began (``began``); none before it, or no run: its first value."""
    if node.repeat is None or len(node.repeat) < 6:
        return node.repeat
    name, _value, start, end, step, kind = node.repeat
    done = 0
    for moment, state, _t, _r in past.changes_of(node.path):
        if moment > instant:
            break
        if state == "complete" and began is not None and moment >= began:
            done += 1
    try:
        value = int(start) + done * int(step)
        if kind == "date":
            first = date(int(start) // 10000, int(start) // 100 % 100, int(start) % 100)
            value = int((first + timedelta(days=done * int(step))).strftime("%Y%m%d"))
    except ValueError:
        return node.repeat
    value = min(value, int(end)) if int(step) > 0 else max(value, int(end))
    return (name, str(value), start, end, step, kind)


def _naive(past: History, path: str, instant: datetime) -> datetime | None:
    """The last-duration forecast: this run's start plus the previous run's length
    (runs as ``cycles`` splits them: a family 'queued' between its tasks is no new run)."""
    found = node_cycles([c for c in past.changes_of(path) if c[0] <= instant])
    done = [c for c in found if c.end is not None]
    if not done:
        return None
    last = done[-1]
    current = found[-1].start if found[-1].end is None else instant
    return current + (last.end - last.start)  # type: ignore[operator]

