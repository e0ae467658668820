"""This run against the previous one: ``compare_cycles(server, "/suite/family")`` — for
a repeating suite or family, which tasks started later and which ran longer than in
its previous cycle.

A cycle of a node, from the log: from its first submission after it last completed to
its next completion. A repeat step is a cycle (ecFlow completes the family, then
requeues it for the next value: measured on 5.9, ``complete: /s/f`` then ``queued:
/s/f`` in the same second), and so is a run started by a requeue or a new day's
begin. Each task run belongs to the cycle its first try began in; a task's time in a
cycle runs from its first try's submission (retries included) to its completion, and
its start is counted from the cycle's start, so a whole cycle that began late does
not make every task "later".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from .._server.server import Server, normalise_path
from .history import history
from .timeline import Run, read_runs

__all__ = ["compare_cycles", "CycleComparison", "TaskCycle", "Cycle"]


@dataclass(frozen=True)
class Cycle:
    """One cycle of a node: its start and end (None: still running)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class TaskCycle:
    """One task in the two cycles compared: its start after the cycle's start and its
    time (first try to completion), now and before (None: it did not run or complete
    in that cycle), and its tries now."""

    path: str
    offset: timedelta | None
    duration: timedelta | None
    offset_before: timedelta | None
    duration_before: timedelta | None
    tries: int = 0

    @property
    def later_by(self) -> timedelta | None:
        if self.offset is None or self.offset_before is None:
            return None
        return self.offset - self.offset_before

    @property
    def longer_by(self) -> timedelta | None:
        if self.duration is None or self.duration_before is None:
            return None
        return self.duration - self.duration_before


@dataclass(frozen=True)
class CycleComparison:
    """The node's last cycle (``current``, maybe still running) against the one before
    (``previous``); ``started_later``/``ran_longer`` name the tasks beyond
    ``tolerance``, worst first."""

    path: str
    current: Cycle | None
    previous: Cycle | None
    tasks: tuple[TaskCycle, ...]
    tolerance: timedelta
    cycles: int

    @property
    def started_later(self) -> tuple[str, ...]:
        found = [t for t in self.tasks if t.later_by is not None and t.later_by > self.tolerance]
        return tuple(t.path for t in sorted(found, key=lambda t: t.later_by, reverse=True))

    @property
    def ran_longer(self) -> tuple[str, ...]:
        found = [t for t in self.tasks
                 if t.longer_by is not None and t.longer_by > self.tolerance]
        return tuple(t.path for t in sorted(found, key=lambda t: t.longer_by, reverse=True))

    def __getitem__(self, path: str) -> TaskCycle:
        path = normalise_path(path)
        return next(t for t in self.tasks if t.path == path)

    def __repr__(self) -> str:
        if self.previous is None:
            return f"<CycleComparison {self.path}: {self.cycles} cycle(s) in the log, none " \
                   "before the last to compare with>"
        return (f"<CycleComparison {self.path}: {len(self.started_later)} started later, "
                f"{len(self.ran_longer)} ran longer than the previous cycle>")

    def _repr_html_(self) -> str:
        return cycles_html(self)


def _seconds(value: timedelta | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    return f"{seconds:+.0f} s" if signed else f"{seconds:.0f} s"


def cycles_html(found: CycleComparison) -> str:
    """The comparison as a table, the tasks that moved most first."""
    if found.previous is None or found.current is None:
        return (f"<p class='ecfnb-cycles'><i>{escape(found.path)}: no previous cycle in the "
                "log to compare with</i></p>")
    late, long = set(found.started_later), set(found.ran_longer)
    rows = sorted(found.tasks, key=lambda t: -max(
        (t.later_by or timedelta(0)).total_seconds(), (t.longer_by or timedelta(0))
        .total_seconds()))
    body = "".join(
        f"<tr data-path='{escape(t.path)}'><td><code class='ecfnb-link' data-ecfnb-op="
        f"'select' data-ecfnb-arg='{escape(t.path)}'>{escape(t.path)}</code></td>"
        f"<td>{_seconds(t.offset_before)}</td><td>{_seconds(t.offset)}</td>"
        f"<td class='{'ecfnb-worse' if t.path in late else ''}'>"
        f"{_seconds(t.later_by, True)}</td><td>{_seconds(t.duration_before)}</td>"
        f"<td>{_seconds(t.duration)}</td><td class='{'ecfnb-worse' if t.path in long else ''}'>"
        f"{_seconds(t.longer_by, True)}</td></tr>" for t in rows)
    def at(c: Cycle) -> str:
        end = f"{c.end:%H:%M:%S}" if c.end else "running"
        return f"{c.start:%Y-%m-%d %H:%M:%S} – {end}"
    return (f"<div class='ecfnb-cycles'><p>This cycle ({at(found.current)} UTC) against the "
            f"previous ({at(found.previous)}): {len(late)} task(s) started later, "
            f"{len(long)} ran longer (by more than {_seconds(found.tolerance)}).</p><table>"
            "<tr><th>task</th><th>started after (before)</th><th>(now)</th><th>later by"
            "</th><th>took (before)</th><th>(now)</th><th>longer by</th></tr>"
            f"{body}</table></div>")


def node_cycles(changes: list[tuple[datetime, str, int, str]]) -> list[Cycle]:
    """A node's cycles from its state changes (the log's, in order)."""
    found: list[Cycle] = []
    began: datetime | None = None
    for moment, state, _try, _reason in changes:
        if state in ("submitted", "active", "aborted") and began is None:
            began = moment
        elif state == "complete" and began is not None:
            found.append(Cycle(began, moment))
            began = None
    if began is not None:
        found.append(Cycle(began, None))
    return found


def _in_cycle(runs: list[Run], cycle: Cycle) -> dict[str, tuple[datetime, datetime | None, int]]:
    """Each task's (first try's start, completion, tries) in ``cycle``."""
    found: dict[str, tuple[datetime, datetime | None, int]] = {}
    for run in runs:
        start = run.start
        if start is None or start < cycle.start or (cycle.end is not None and start > cycle.end):
            continue
        first, end, tries = found.get(run.path, (start, None, 0))
        if end is not None:  # ran again in the same cycle (rerun): the last run counts
            first, tries = start, 0
        done = run.end if run.outcome == "complete" else None
        found[run.path] = (first, done, tries + 1)
    return found


def compare_cycles(server: Server, path: str, tolerance: float | timedelta = 1.0, *,
                   log_file: str | os.PathLike | None = None, max_lines: int = 100_000,
                   tz: Any = None) -> CycleComparison:
    """``path``'s last cycle against its previous one (see the module's docstring);
    ``tolerance`` (seconds): how much later or longer counts."""
    path = normalise_path(path)
    server.summary(path)  # NodeNotFound, with its advice
    margin = tolerance if isinstance(tolerance, timedelta) else timedelta(seconds=tolerance)
    past = history(server, log_file=log_file, max_lines=max_lines, tz=tz)
    found = node_cycles(past.changes_of(path))
    prefix = path.rstrip("/") + "/"
    runs = [r for r in read_runs(server, log_file, max_lines, tz) if r.path.startswith(prefix)]
    if len(found) < 2:
        return CycleComparison(path, found[-1] if found else None, None, (), margin,
                               len(found))
    previous, current = found[-2], found[-1]
    now, before = _in_cycle(runs, current), _in_cycle(runs, previous)
    tasks = []
    for task in sorted(set(now) | set(before)):
        n, b = now.get(task), before.get(task)
        tasks.append(TaskCycle(
            task, n[0] - current.start if n else None,
            n[1] - n[0] if n and n[1] else None,
            b[0] - previous.start if b else None, b[1] - b[0] if b and b[1] else None,
            n[2] if n else 0))
    return CycleComparison(path, current, previous, tuple(tasks), margin, len(found))
