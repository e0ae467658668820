"""What the abort watcher reports: plain, JSON-friendly records.

They travel from the polling process to the notebook as JSON lines, so they are
frozen dataclasses of strings, numbers and datetimes, with ``to_json``/``from_json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from .._base.text import one_line, printable


@dataclass(frozen=True)
class AbortEvent:
    """A task went into 'aborted'. ``time`` is its state-change time (UTC). The watcher
    identifies one abort by (path, try_no, time): the same abort seen again (a
    reconnect, a restarted server) is not reported again."""

    server: str
    path: str
    time: datetime
    try_no: int
    reason: str
    output_tail: str
    kind: str = "abort"

    def text(self) -> str:
        """The block the CLI prints and mails: control characters from the reason or the
        output shown as ``\\xNN``, so that a job cannot drive the reader's terminal."""
        head = (f"ABORTED {self.path} on {self.server}\n"
                f"  at     {self.time:%Y-%m-%d %H:%M:%S} UTC\n"
                f"  try    {self.try_no}\n"
                f"  reason {one_line(self.reason) or '(none given)'}\n")
        tail = printable(self.output_tail.rstrip("\n"))
        return head + "  output (tail):\n" + "".join(f"    {line}\n" for line in
                                                     tail.split("\n")) if tail else head


@dataclass(frozen=True)
class LateEvent:
    """A node the server flagged late, or a task active for longer than the threshold."""

    server: str
    path: str
    time: datetime
    why: str
    kind: str = "late"

    def text(self) -> str:
        return (f"LATE {self.path} on {self.server}: {one_line(self.why)} "
                f"({self.time:%H:%M:%S} UTC)\n")


@dataclass(frozen=True)
class ZombieEvent:
    """The server has a new zombie: a job calling it with the wrong password or try
    (``ecflow_client --zombie_get``). One event per zombie, however long it lives."""

    server: str
    path: str
    time: datetime
    zombie_type: str  # ecFlow's: 'user', 'ecf', 'path', ...
    try_no: int
    pid: str
    explanation: str
    kind: str = "zombie"

    def text(self) -> str:
        return (f"ZOMBIE {self.path} on {self.server}: {self.zombie_type} zombie, try "
                f"{self.try_no}, pid {self.pid}: {one_line(self.explanation)} "
                f"({self.time:%H:%M:%S} UTC)\n")


@dataclass(frozen=True)
class WatcherEvent:
    """The watcher itself is in trouble: it cannot watch any more (its polling process
    keeps ending). Sent to every callback, so that a CLI prints it and mails it."""

    server: str
    path: str
    time: datetime
    why: str
    kind: str = "watcher"

    def text(self) -> str:
        return (f"WATCHER PROBLEM on {self.server} ({self.path}): {one_line(self.why)} "
                f"({self.time:%H:%M:%S} UTC)\n")


@dataclass(frozen=True)
class ForecastEvent:
    """A node's completion forecast crossed the deadline the watcher was given: 'at
    risk' (the range spans it) or 'late' (even the earliest end is after it) — before
    the server flags anything late. One event per crossing; back on time and over it
    again is a new one. Moments are UTC ISO texts ('' when not in sight)."""

    server: str
    path: str
    time: datetime
    why: str
    verdict: str
    deadline: str
    earliest: str
    expected: str
    latest: str
    kind: str = "forecast"

    def text(self) -> str:
        return (f"FORECAST {self.path} on {self.server}: {self.verdict} for its deadline "
                f"{self.deadline[:16].replace('T', ' ')} UTC: {one_line(self.why)} "
                f"({self.time:%H:%M:%S} UTC)\n")


@dataclass(frozen=True)
class WatchOptions:
    """What a watcher watches and reports: one definition for the notebook side and its
    polling process, which receives them as command-line arguments."""

    paths: tuple[str, ...] = ()
    include_existing: bool = False
    lines: int = 50
    active_threshold: float | None = None
    zombies: bool = False
    #: (path, deadline as UTC ISO text): forecast each, alert when it crosses.
    deadlines: tuple[tuple[str, str], ...] = ()
    forecast_every: float = 60.0

    def arguments(self) -> list[str]:
        """The polling process's arguments for these options."""
        args = [*self.paths, "--lines", str(self.lines)]
        for path, moment in self.deadlines:
            args += ["--deadline", f"{path}={moment}"]
        if self.deadlines:
            args += ["--forecast-every", str(self.forecast_every)]
        if self.include_existing:
            args.append("--include-existing")
        if self.active_threshold:
            args += ["--active-threshold", str(self.active_threshold)]
        if self.zombies:
            args.append("--zombies")
        return args

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """Declare ``arguments()`` on an ``argparse`` parser."""
        parser.add_argument("paths", nargs="*")
        parser.add_argument("--lines", type=int, default=50)
        parser.add_argument("--include-existing", action="store_true")
        parser.add_argument("--active-threshold", type=float)
        parser.add_argument("--zombies", action="store_true")
        parser.add_argument("--deadline", action="append", default=[])
        parser.add_argument("--forecast-every", type=float, default=60.0)

    @classmethod
    def parsed(cls, args: Any) -> WatchOptions:
        deadlines = tuple(tuple(d.split("=", 1)) for d in args.deadline)
        return cls(tuple(args.paths), args.include_existing, args.lines,
                   args.active_threshold, args.zombies, deadlines,  # type: ignore[arg-type]
                   args.forecast_every)


Event = AbortEvent | LateEvent | ZombieEvent | WatcherEvent | ForecastEvent
_CLASSES = {"abort": AbortEvent, "late": LateEvent, "zombie": ZombieEvent,
            "watcher": WatcherEvent, "forecast": ForecastEvent}


def event_key(event: Event) -> tuple:
    """What makes two reports the same event (an abort: its path, try and time)."""
    if isinstance(event, AbortEvent):
        return ("abort", event.path, event.try_no, event.time.isoformat())
    if isinstance(event, ZombieEvent):
        return ("zombie", event.path, event.zombie_type, event.pid, event.try_no)
    if isinstance(event, ForecastEvent):
        return ("forecast", event.path, event.deadline, event.verdict, event.time.isoformat())
    return (event.kind, event.path, event.time.isoformat(), getattr(event, "why", ""))


def to_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    data["time"] = event.time.isoformat()
    return data


def from_json(data: dict[str, Any]) -> Event:
    cls = _CLASSES.get(data.get("kind", ""), LateEvent)
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values["time"] = datetime.fromisoformat(values["time"])
    return cls(**values)
