"""Task runs read from the ecFlow server log, and a Gantt chart of them.

The node tree keeps one state-change time per node; only the server log keeps every
transition. ecFlow writes (``_serverlog`` reads the format: the server's local time,
day and month not zero-padded by 5.9)::

    LOG:[14:48:57 1.12.2026]  submitted: /demo/forecast/post job_size:1090
    LOG:[14:48:58 1.12.2026]  active: /demo/forecast/post
    LOG:[14:48:58 1.12.2026]  aborted: /demo/forecast/post try-no: 1 reason: exit 1
    LOG:[14:48:58 1.12.2026]  aborted: /demo/forecast          <- parents: no try-no
    LOG:[14:49:04 1.12.2026]  queued: /demo/forecast/post      <- --requeue
    MSG:[14:48:54 1.12.2026] --news=0 107 5 :root@vm [...]     <- most lines

Every time in a Run is UTC: the stamps go through the server's ``LogClock``.

Only a job submission carries ``job_size:`` and only a task's abort ``try-no:``: that
tells tasks from families. An ECF_TRIES retry is ``aborted ... try-no: N`` then
``submitted`` with no ``queued`` between; after ``--requeue`` the next run is try 1.
A failed job generation is an ``aborted ... try-no:`` line without a submission.

Logs reach hundreds of MB, so parsing streams: one pass over bytes (a stray
non-UTF-8 byte is replaced, never fatal), a dict of open runs keyed by path, and
the regex only for lines that start with ``LOG:``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from .._base.serverlog import STATE_LINE, LogClock, naive_stamp
from .._base.states import state_colour
from .._server.server import normalise_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .._server.server import Server

_OUTCOMES = {name.encode(): name for name in ("complete", "aborted", "queued", "unknown")}
_LEGEND = ("submitted", "active", "complete", "aborted", "queued", "resubmitted", "unknown")
#: Rows a figure shows at most: beyond that labels stop being readable.
MAX_ROWS = 60


@dataclass(slots=True)
class Run:
    """One submission of a task, from ``submitted`` to its end (a retry is a new Run).

    ``outcome`` is the state that ended it: 'complete', 'aborted', 'queued' (requeued
    first), 'unknown', 'resubmitted' (submitted again while running), or 'running' if
    the log ends first. ``submitted`` is None when the log does not show the submission
    (before the log's start, job generation failed, state forced); ``try_no`` 0: unknown.
    """

    path: str
    try_no: int = 0
    submitted: datetime | None = None
    active: datetime | None = None
    end: datetime | None = None
    outcome: str = "running"
    reason: str = ""

    @property
    def start(self) -> datetime:
        """The earliest time the log shows for this run."""
        return self.submitted or self.active or self.end  # type: ignore[return-value]

    @property
    def state(self) -> str:
        """The state this run is in, or ended in: what colours its bar."""
        if self.outcome != "running":
            return self.outcome
        return "active" if self.active else "submitted"


class _RunBuilder:
    """The state machine behind ``parse_log``, fed with state lines only. Keyed by a
    path's raw bytes: a path is decoded once, when its run is made."""

    def __init__(self, clock: LogClock) -> None:
        self.clock = clock
        self.open: dict[bytes, Run] = {}
        self.done: list[Run] = []
        self.tries: dict[bytes, int] = {}  # the log's tasks -> submissions since requeue
        self.families: set[bytes] = set()  # submitted without a job
        self._stamp: tuple = ()
        self._when = datetime.min

    def handle(self, found: re.Match[bytes]) -> None:
        *stamp, state, raw, job, try_no, reason = found.groups()
        run = self.open.get(raw)
        if state == b"submitted":
            if job is None and raw not in self.tries:
                self.families.add(raw)  # (or a task forced submitted before any job)
                return
        elif run is None and try_no is None and (state != b"active" or raw in self.families):
            if state == b"queued" and raw in self.tries:  # requeued: next run is try 1
                self.tries[raw] = 0
            return  # about half the state lines: parents following a child
        if stamp != self._stamp:  # consecutive lines mostly share their second
            try:
                self._when = self.clock.to_utc(naive_stamp(*stamp))
            except ValueError:  # a damaged line (minute 61...): skip it, not the log
                return
            self._stamp = stamp
        if state == b"submitted":
            if run is not None:
                self._close(raw, run, "resubmitted", "")
            self.tries[raw] = tries = self.tries.get(raw, 0) + (job is not None)
            self.open[raw] = Run(raw.decode("utf-8", "replace"), tries, self._when)
        elif state == b"active":
            if run is None:  # began before the log, or forced: see finish()
                run = self.open[raw] = Run(raw.decode("utf-8", "replace"),
                                           self.tries.get(raw, 0))
            run.active = run.active or self._when
        else:
            if try_no is not None:
                self.tries[raw] = int(try_no)
                if run is None:  # job generation failed, or --force=aborted
                    run = self.open[raw] = Run(raw.decode("utf-8", "replace"))
                run.try_no = int(try_no)
            if state == b"queued" and raw in self.tries:
                self.tries[raw] = 0
            if run is not None:
                text = reason.decode("utf-8", "replace").strip() if reason else ""
                self._close(raw, run, _OUTCOMES[state], text)

    def _close(self, raw: bytes, run: Run, outcome: str, reason: str) -> None:
        run.end, run.outcome, run.reason = self._when, outcome, reason
        del self.open[raw]
        self.done.append(run)

    def finish(self) -> list[Run]:
        """Runs sorted by start. A run whose submission was not seen is kept only when
        its path is a task: proven by the log, or a leaf (families have children there)."""
        runs = self.done + list(self.open.values())
        parents: set[str] = set()
        for path in {run.path for run in runs}:
            cut = path.rfind("/")
            while cut > 0 and path[:cut] not in parents:
                parents.add(path[:cut])
                cut = path.rfind("/", 0, cut)
        tasks = {raw.decode("utf-8", "replace") for raw in self.tries}
        runs = [r for r in runs if r.submitted is not None or r.path in tasks
                or (r.path not in parents and r.path != "/")]
        runs.sort(key=lambda r: r.start)
        return runs


def parse_log(lines: Iterable[bytes], clock: LogClock | Any = None) -> list[Run]:
    """Task runs from server log lines, in one streaming pass. ``lines`` keep their line
    ends, as iterating a binary file gives them: a path must end in whitespace, so the
    line the server is still writing, cut inside its path, is not a false run. Lines
    that are not state changes cost a prefix test. ``clock``: the server's log zone
    (``LogClock``, a zone name, hours...; default UTC); every Run time is UTC."""
    builder = _RunBuilder(LogClock.of(clock) or LogClock())
    match, handle = STATE_LINE.match, builder.handle
    for line in lines:
        if line.startswith(b"LOG:"):
            found = match(line)
            if found is not None:
                handle(found)
    return builder.finish()


def log_source(server: Server | None, log_file: str | os.PathLike | None,
               max_lines: int) -> tuple[io.BufferedIOBase, str]:
    """The log and where it came from: ``log_file``, else the server's own file when it
    is readable here (all of it, from disk), else its last ``max_lines`` lines."""
    name = log_file
    if name is None:
        if server is None:
            raise ValueError("timeline() needs a server or a log_file")
        name = server.log_file()
        if name is None:
            text = server.log_tail(max_lines)
            return io.BytesIO(text), f"{server.address} (last {max_lines} log lines)"
    return open(name, "rb"), os.fspath(name)  # read and closed by timeline()


def read_runs(server: Server, log_file: str | os.PathLike | None = None,
              max_lines: int = 100000, tz: Any = None) -> list[Run]:
    """Every task run of ``server``'s log (``log_source``), its stamps read with ``tz``
    or the server's ``log_clock()``: what the forecast and the cycle comparison read."""
    clock = LogClock.of(tz) or server.log_clock()
    log, _source = log_source(server, log_file, max_lines)
    with log:
        return parse_log(log, clock)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment and not moment.tzinfo else moment


def timeline(server: Server | None, path: str = "/", since: datetime | None = None,
             until: datetime | None = None, log_file: str | os.PathLike | None = None,
             max_lines: int = 100000, tz: Any = None) -> Timeline:
    """The runs of tasks under ``path`` that overlap [since, until] (naive = UTC).

    The log comes from ``log_file``, else the server's ECF_LOG when readable on this
    machine, else the last ``max_lines`` lines the server sends (older runs are missing
    then, and a run whose submission is cut off starts at its first line shown).
    Its stamps are the server's local time: ``tz`` gives the zone (a name like
    'Asia/Tokyo', hours, a timedelta); by default the server's ``log_clock()`` (given,
    else detected), UTC for a bare ``log_file``. Every time in the result is UTC."""
    path = normalise_path(path)
    since, until = _utc(since), _utc(until)
    clock = LogClock.of(tz)
    if clock is None:
        clock = server.log_clock() if server is not None else LogClock()
    log, source = log_source(server, log_file, max_lines)
    with log:
        parsed = parse_log(log, clock)
    prefix = path.rstrip("/") + "/"
    runs = [run for run in parsed
            if (path == "/" or run.path == path or run.path.startswith(prefix))
            and (until is None or run.start <= until)
            and (since is None or run.end is None or run.end >= since)]
    return Timeline(runs, path, source, since, until, clock)


@dataclass
class Timeline:
    """Runs read from one log, with a table and a Gantt chart (``_repr_png_`` draws it
    in a notebook)."""

    runs: list[Run]
    path: str = "/"
    source: str = ""
    since: datetime | None = None
    until: datetime | None = None
    clock: LogClock = field(default_factory=LogClock)

    def __repr__(self) -> str:
        tasks = len({run.path for run in self.runs})
        return f"<Timeline {self.path}: {len(self.runs)} runs of {tasks} tasks from {self.source}>"

    def table(self) -> Any:
        """A pandas DataFrame (one row per run) when pandas is installed, else the Runs."""
        try:
            import pandas
        except ImportError:
            return list(self.runs)
        columns = ["path", "try_no", "submitted", "active", "end", "outcome", "reason"]
        return pandas.DataFrame([asdict(run) for run in self.runs], columns=columns)

    def label(self, task: str) -> str:
        """A task's row label: its path relative to the timeline's ``path``."""
        return task[len(self.path):].lstrip("/") or task.rsplit("/", 1)[-1]

    def _rows(self, highlight: str | None, now: datetime, max_rows: int) -> list[str]:
        """Task paths to draw, first started at the top: the ``max_rows`` most recently
        seen, and the highlighted task whatever its age."""
        first: dict[str, datetime] = {}
        last: dict[str, datetime] = {}
        for run in self.runs:
            first.setdefault(run.path, run.start)
            last[run.path] = max(last.get(run.path, run.start), run.end or now)
        chosen = sorted(last, key=last.__getitem__, reverse=True)[:max_rows]
        if highlight in last and highlight not in chosen:
            chosen[-1] = highlight
        return sorted(chosen, key=first.__getitem__)

    def figure(self, highlight: str | None = None, now: datetime | None = None,
               max_rows: int = MAX_ROWS) -> Figure:
        """A Gantt chart, a row per task: turquoise while submitted, then green while
        active, yellow if complete, red if aborted; a dashed line at ``now``. A bare
        ``Figure`` (Agg): no pyplot state, no backend switched for the whole process."""
        from matplotlib.figure import Figure

        now = _utc(now) or datetime.now(timezone.utc)
        if highlight and not highlight.startswith("/"):
            highlight = f"{self.path.rstrip('/')}/{highlight}"
        rows = self._rows(highlight, now, max_rows)
        fig = Figure(figsize=(10, max(2.5, 1.3 + 0.22 * len(rows))), layout="constrained")
        ax = fig.add_subplot()
        tasks = len({run.path for run in self.runs})
        title = f"Task runs under {self.path}: {len(self.runs)} runs of {tasks} tasks"
        if len(rows) < tasks:
            title += f" (the {len(rows)} most recently active shown)"
        ax.set_title(title, fontsize=10, loc="left")
        if rows:
            self._draw(ax, rows, highlight, now)
            fig.legend(fontsize=7, ncols=7, loc="outside upper right", frameon=False,
                       handlelength=1)
        else:
            ax.text(0.5, 0.5, "no task runs in the log for this path and period",
                    ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return fig

    def _draw(self, ax: Any, rows: list[str], highlight: str | None, now: datetime) -> None:
        from matplotlib import dates

        row_of = {task: index for index, task in enumerate(rows)}
        drawn = [run for run in self.runs if run.path in row_of]
        left, right = min(r.start for r in drawn), max(r.end or now for r in drawn)
        span = max((right - left).total_seconds(), 60.0) / 86400  # days, as date2num
        if 0 <= (now - left).total_seconds() / 86400 <= 1.25 * span:  # not an old log
            right = max(right, now)
            ax.axvline(dates.date2num(now), color="black", linestyle="--", linewidth=0.8)
            ax.text(dates.date2num(now), 0.01, " now", fontsize=7,
                    transform=ax.get_xaxis_transform())
        _draw_bars(ax, drawn, row_of, now, min_width=span * 0.004)
        ax.set_yticks(range(len(rows)), [self.label(task) for task in rows],
                      fontsize=7 if len(rows) > 30 else 8)
        if highlight in row_of:
            ax.get_yticklabels()[row_of[highlight]].set_fontweight("bold")
            ax.axhspan(row_of[highlight] - 0.5, row_of[highlight] + 0.5, color="0.9", zorder=0)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlim(dates.date2num(left) - span * 0.02, dates.date2num(right) + span * 0.02)
        locator = dates.AutoDateLocator(tz=timezone.utc)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=timezone.utc))
        ax.set_xlabel(f"time (UTC; server log clock {self.clock.describe()})", fontsize=8)
        ax.grid(axis="x", linewidth=0.3)

    def durations(self) -> dict[str, Durations]:
        """Each task's run times over the runs in the log (``Durations``), by path."""
        by_task: dict[str, list[Run]] = {}
        for run in self.runs:
            by_task.setdefault(run.path, []).append(run)
        return {path: Durations.of(path, runs) for path, runs in by_task.items()}

    def svg(self, highlight: str | None = None, now: datetime | None = None,
            max_rows: int = MAX_ROWS, width: int = 900) -> str:
        """The Gantt as SVG for a page: the same rows as ``figure``, each bar and row
        label a link (``data-ecfnb-op="select"``, the task's path) with a tooltip."""
        now = _utc(now) or datetime.now(timezone.utc)
        rows = self._rows(highlight, now, max_rows)
        if not rows:
            return ('<p class="ecfnb-timeline-empty"><i>no task runs in the log for '
                    f'{escape(self.path)} in this period</i></p>')
        row_of = {task: index for index, task in enumerate(rows)}
        drawn = [run for run in self.runs if run.path in row_of]
        left = min(r.start for r in drawn)
        right = max(max(r.end or now for r in drawn), left + timedelta(seconds=60))
        label_w, row_h, top = 200, 18, 22
        span = (right - left).total_seconds()
        plot_w = width - label_w - 10

        def x(moment: datetime) -> float:
            return label_w + plot_w * (moment - left).total_seconds() / span

        out = [f'<svg class="ecfnb-timeline" xmlns="http://www.w3.org/2000/svg" '
               f'width="{width}" height="{top + row_h * len(rows) + 24}" '
               f'font-size="11" font-family="sans-serif">']
        for moment in _ticks(left, right):
            out.append(f'<line x1="{x(moment):.1f}" x2="{x(moment):.1f}" y1="{top - 4}" '
                       f'y2="{top + row_h * len(rows)}" stroke="#ddd"/>'
                       f'<text x="{x(moment):.1f}" y="{top - 8}" text-anchor="middle" '
                       f'fill="#555">{moment:%H:%M}</text>')
        for task, index in row_of.items():
            y = top + index * row_h
            weight = ' font-weight="bold"' if task == highlight else ""
            out.append(f'<text x="4" y="{y + 13}" data-ecfnb-op="select" '
                       f'data-ecfnb-arg="{escape(task)}"{weight} class="ecfnb-link">'
                       f'{escape(_clip(self.label(task), 30))}<title>{escape(task)}'
                       '</title></text>')
        for run in drawn:
            y = top + row_of[run.path] * row_h + 3
            parts = []
            if run.submitted is not None and run.active is not None:
                parts.append(("submitted", run.submitted, run.active))
            parts.append((run.state, run.active or run.start, run.end or now))
            tip = escape(_run_tip(run))
            for state, begin, end in parts:
                w = max(x(end) - x(begin), 2.0)
                out.append(f'<rect class="ecfnb-run ecfnb-run-{state}" x="{x(begin):.1f}" '
                           f'y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                           f'fill="{state_colour(state)}" stroke="#555" stroke-width="0.4" '
                           f'data-ecfnb-op="select" data-ecfnb-arg="{escape(run.path)}">'
                           f'<title>{tip}</title></rect>')
        base = top + row_h * len(rows) + 16
        out.append(f'<text x="{label_w}" y="{base}" fill="#555">{left:%Y-%m-%d %H:%M} to '
                   f'{right:%Y-%m-%d %H:%M} UTC (server log clock '
                   f'{escape(self.clock.describe())})</text></svg>')
        return "".join(out)

    def png(self, **figure_kwargs: Any) -> bytes:
        """The chart as PNG bytes (``figure_kwargs`` go to ``figure``)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        buffer = io.BytesIO()
        FigureCanvasAgg(self.figure(**figure_kwargs)).print_png(buffer)
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


@dataclass(frozen=True)
class Durations:
    """A task's run times over the runs in the log: how many ``runs`` (and how many
    ``aborted``), and of the runs that completed, the ``last``, ``median``, ``minimum``
    and ``maximum`` duration (from active, or submitted, to complete); None without
    a completed run."""

    path: str
    runs: int
    aborted: int
    completed: int
    last: timedelta | None
    median: timedelta | None
    minimum: timedelta | None
    maximum: timedelta | None

    @classmethod
    def of(cls, path: str, runs: list[Run]) -> Durations:
        times = [run.end - (run.active or run.submitted) for run in runs
                 if run.outcome == "complete" and run.end is not None
                 and (run.active or run.submitted) is not None]
        aborted = sum(run.outcome == "aborted" for run in runs)
        if not times:
            return cls(path, len(runs), aborted, 0, None, None, None, None)
        ordered = sorted(times)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else (
            ordered[middle - 1] + ordered[middle]) / 2
        return cls(path, len(runs), aborted, len(times), times[-1], median, ordered[0],
                   ordered[-1])


def _ticks(left: datetime, right: datetime, count: int = 6) -> list[datetime]:
    """Round times between ``left`` and ``right`` for the axis (about ``count``)."""
    span = (right - left).total_seconds()
    steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
    step = next((s for s in steps if span / s <= count), 86400 * max(1, round(span / 86400 /
                                                                              count)))
    first = left.replace(second=0, microsecond=0)
    first += timedelta(seconds=-(first.hour * 3600 + first.minute * 60) % step)
    out = []
    moment = first
    while moment <= right and len(out) < 50:
        if moment >= left:
            out.append(moment)
        moment += timedelta(seconds=step)
    return out


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else "\u2026" + text[-(size - 1):]


def _run_tip(run: Run) -> str:
    def at(moment: datetime | None) -> str:
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "?"
    text = (f"{run.path} try {run.try_no or '?'}: submitted {at(run.submitted)}, active "
            f"{at(run.active)}, {run.outcome if run.end else 'still running'}"
            f"{' ' + at(run.end) if run.end else ''}")
    return text + (f" ({run.reason})" if run.reason else "")


def _draw_bars(ax: Any, runs: list[Run], row_of: dict[str, int], now: datetime,
               min_width: float) -> None:
    """One ``barh`` per state: a run's submitted part, then the rest in the colour of
    its state (a run never active is drawn whole in that colour, so an abort shows)."""
    from matplotlib import dates

    segments: dict[str, list[tuple[int, float, float]]] = {}
    for run in runs:
        stop, body = dates.date2num(run.end or now), dates.date2num(run.active or run.start)
        if run.submitted is not None and run.active is not None:
            begin = dates.date2num(run.submitted)
            segments.setdefault("submitted", []).append((row_of[run.path], begin, body))
        segments.setdefault(run.state, []).append((row_of[run.path], body, stop))
    for state in sorted(segments, key=_LEGEND.index):
        rows, lefts, rights = zip(*segments[state], strict=True)
        widths = [max(b - a, min_width) for a, b in zip(lefts, rights, strict=True)]
        colour = state_colour(state)  # 'rgb(r,g,b)'
        rgb = tuple(int(part) / 255 for part in colour[4:-1].split(","))
        ax.barh(rows, widths, left=lefts, height=0.6, color=rgb, edgecolor="0.35",
                linewidth=0.3, label=state)
