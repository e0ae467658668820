"""A server log read by position, for the tree at an instant without reading the log.

A 1 GB log is about 20 million lines; any pass that looks at each in Python costs
10 s or more, where a cold sync of a 100k-task server costs under one. But the tree at
an instant ``t`` needs little of the log: a node whose last change (its ``since`` on
the server now) is at or before ``t`` is in its current state then, exactly; only the
nodes that changed after ``t`` need their last change before it, and that is found by
reading *backwards* from ``t`` until each is met (most within a cycle of the suite).
So: the position of ``t`` by binary search over the stamps (the log is in time order),
then chunks read backwards, each scanned by one regular expression in C for its
state lines and the paths looked up in a set; nothing else of the file is touched.
Moving the instant forward reads only what lies between the two.

The buffer is a ``mmap`` of the file (the kernel pages in what is read, no copy), or
bytes for a log the server sent.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from .._base.serverlog import LINE, STATE_LINE, LogClock, naive_stamp

__all__ = ["LogIndex", "Change", "EVERY"]

#: A state line's text after ``LOG:[`` (C-level: one match per state line).
_AFTER = re.compile(rb"\nLOG:\[([^\n]*)(?=\n)")  # (a line still being written: not yet)
#: (path, text) of a state line: the path caught in a look-ahead, so that ``dict()`` of
#: the pairs keeps each path's newest line, in C.
_PAIR = re.compile(rb"\nLOG:\[(?=[^\]\n]*\]\s+\w+: (\S+))([^\n]*)(?=\n)")
#: The same for the lines that start a task's count of tries again, a requeue or an
#: abort: (path, text from the state word on).
_REQUEUED = re.compile(
    rb"\nLOG:\[(?=[^\]\n]*\]\s+(?:queued|aborted): (\S+))[^\]\n]*\]\s+([^\n]*)(?=\n)")
#: A job's submission (``job_size:``): the path.
_SUBMITTED = re.compile(rb"\nLOG:\[[^\]\n]*\]\s+submitted: (\S+) job_size:")
#: The same two for a log that writes ``]  state:`` (every ecFlow 5 server: ``LOG:[`` +
#: stamp + ``] `` + `` state: path``): a pattern that starts with a literal is found by
#: the engine's fast search instead of being tried at every line (a 10 MB slice: 9 ms
#: against 25). Only where ``_double_spaced`` found that form.
_REQUEUED_FAST = re.compile(rb"\]  (?=(?:queued|aborted): (/\S*))([^\n]*)(?=\n)")
_SUBMITTED_FAST = re.compile(rb"\]  submitted: (/\S*) job_size:")
#: A state line's separator after the stamp.
_SEPARATOR = re.compile(rb"\nLOG:\[[^\]\n]*\](\s+)(?:submitted|active|complete|aborted|"
                        rb"queued|unknown): /")
#: The lines that suspend or resume (found with ``find``: they are rare).
_COMMANDS = (b"--suspend", b"--resume")
#: Bytes read backwards at a time.
CHUNK = 8 << 20

Change = tuple[datetime, str, int, str]  # (UTC moment, state, try or 0, reason)
_RUNNING = ("submitted", "active", "complete")


class _Every:
    """A ``tasks`` set holding every path: the tries of every node are counted (a
    stored stretch does not know which nodes are tasks; its reader drops a family's)."""

    def __contains__(self, item: object) -> bool:
        return True


EVERY = _Every()


class LogIndex:
    """A log ``buffer`` whose stamps ``clock`` reads."""

    def __init__(self, buffer: bytes | mmap.mmap, clock: LogClock, source: str,
                 grep: subprocess.Popen | None = None) -> None:
        self.buffer, self.clock, self.source = buffer, clock, source
        self.size = len(buffer)
        self._grep = grep
        self._stamps: dict[bytes, datetime] = {}
        fast = self._double_spaced()
        self._requeued = _REQUEUED_FAST if fast else _REQUEUED
        self._submitted = _SUBMITTED_FAST if fast else _SUBMITTED

    def _double_spaced(self) -> bool:
        """Whether the state lines at both ends of the log are written ``]  state:``."""
        ends = (self.buffer[:1 << 20], self.buffer[max(0, self.size - (1 << 20)):])
        seen = [found.group(1) for end in ends if (found := _SEPARATOR.search(end))]
        return bool(seen) and all(sep == b"  " for sep in seen)

    @classmethod
    def open(cls, name: str | os.PathLike, clock: LogClock, grep: bool = True) -> LogIndex:
        """The log file, mapped; ``grep`` starts at once looking for the suspend and
        resume lines (on the other core, while this one reads the stamps: a search of
        a 1 GB file by ``mmap.find`` cost 1.2 s, one core) unless ``grep`` is False
        (they are stored: ``logstore``)."""
        with open(name, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                return cls(b"", clock, os.fspath(name))
            buffer = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        finder = None
        if grep and shutil.which("grep"):
            finder = subprocess.Popen(  # noqa: S603 - fixed arguments, a file name
                ["grep", "-a", "-b", "-F", *[a for w in _COMMANDS for a in ("-e", w.decode())],
                 "--", os.fspath(name)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return cls(buffer, clock, os.fspath(name), finder)

    def intact(self) -> bool:
        """Whether the file still begins as mapped and is no shorter: a log cleared or
        truncated under a mapping kills the process (SIGBUS) at the next read beyond
        its new end, so every reading asks first (one ``stat`` and 64 bytes)."""
        if not isinstance(self.buffer, mmap.mmap):
            return True
        try:
            with open(self.source, "rb") as file:
                head = file.read(64)
                return os.fstat(file.fileno()).st_size >= self.size and \
                    head == self.buffer[:len(head)]
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        if isinstance(self.buffer, mmap.mmap):
            self.buffer.close()
        self._stop_grep()

    def _stop_grep(self) -> None:
        grep, self._grep = getattr(self, "_grep", None), None
        if grep is not None and grep.poll() is None:
            grep.kill()
        if grep is not None:
            grep.wait()
            if grep.stdout is not None:
                grep.stdout.close()

    def __del__(self) -> None:  # an index dropped unasked: its grep goes too
        self._stop_grep()

    def lines(self) -> Iterator[bytes]:
        """Every line, with its newline (a whole pass: ``History.changes`` only)."""
        start = 0
        buffer = self.buffer
        while start < self.size:
            end = buffer.find(b"\n", start)
            end = self.size if end < 0 else end + 1
            yield buffer[start:end]
            start = end

    # -- where a moment is ----------------------------------------------------------------
    def _stamp_after(self, position: int) -> tuple[int, datetime | None]:
        """The first line starting after ``position`` (the start of the line at 0):
        its start and its naive stamp (None at the end)."""
        buffer = self.buffer
        start = 0 if position <= 0 else buffer.find(b"\n", position) + 1
        while 0 < start < self.size or (start == 0 and self.size):
            end = buffer.find(b"\n", start)
            end = self.size if end < 0 else end
            found = LINE.match(buffer[start:end + 1])
            if found is not None:
                try:
                    return start, naive_stamp(*found.groups()[1:7])
                except ValueError:
                    pass
            start = end + 1
            if start >= self.size:
                break
        return self.size, None

    def offset(self, moment: datetime) -> int:
        """The start of the first line stamped after ``moment`` (UTC): every change at
        or before it lies before this offset."""
        local = self.clock.to_local(moment).replace(microsecond=0)
        low, high = 0, self.size
        while low < high:
            middle = (low + high) // 2
            start, stamp = self._stamp_after(middle)
            if stamp is None or stamp > local:
                high = middle
            else:
                low = max(start + 1, middle + 1)
        start, _stamp = self._stamp_after(low - 1 if low else 0)
        return start if low else 0

    # -- state lines -----------------------------------------------------------------------
    def _change(self, text: bytes) -> tuple[str, Change, bool] | None:
        """(path, change, whether it is a job's submission) of a state line's text; the
        try is the abort line's own (0 for the others: counted by the caller)."""
        found = STATE_LINE.match(b"LOG:[" + text + b"\n")
        if found is None:
            return None
        *stamp, state, path, job, try_no, reason = found.groups()
        key = text[:text.find(b"]")]  # the stamp: most lines share their second
        when = self._stamps.get(key)
        if when is None:
            try:
                when = self._stamps[key] = self.clock.to_utc(naive_stamp(*stamp))
            except ValueError:
                return None
        return path.decode("utf-8", "replace"), (
            when, state.decode(), int(try_no) if try_no else 0,
            reason.decode("utf-8", "replace").strip() if reason else ""), job is not None

    def _texts(self, start: int, end: int) -> list[bytes]:
        """The state lines' texts between two offsets (a line starting at ``start``
        counts: the pattern needs the newline before it)."""
        if start <= 0:
            head = [self.buffer[5:self.buffer.find(b"\n")]] if self.buffer[:5] == b"LOG:[" \
                else []
            return head + _AFTER.findall(self.buffer, 0, end)
        return _AFTER.findall(self.buffer, start - 1, end)

    def _pairs(self, pattern: re.Pattern[bytes], start: int, end: int
               ) -> list[tuple[bytes, bytes]]:
        """(path, text) of the state lines ``pattern`` takes between two offsets."""
        pairs = pattern.findall(self.buffer, max(0, start - 1), end)
        if start <= 0 and self.buffer[:5] == b"LOG:[":
            text = self.buffer[5:self.buffer.find(b"\n")]
            head = pattern.search(b"\nLOG:[" + text + b"\n")
            if head is not None:
                pairs.insert(0, head.groups())
        return pairs

    def last_before(self, offset: int, wanted: set[str], tasks: set[str] | frozenset[str]
                    = frozenset()) -> dict[str, Change]:
        """The last change before ``offset`` of each of ``wanted``, with its try (read
        backwards; the paths never met are not in the answer).

        Chunk by chunk, newest first, and without a Python step per line: one pattern
        gives (path, line) pairs, a dict of them keeps each path's newest line, and a
        set intersection says which of ``wanted`` this chunk has; only those are parsed
        (measured: a per-line loop was 2.3 s of the 3.8 s of a 1 GB log's tree). A
        task's try (``tasks``: a family has none) is the server's count of submissions
        since its last requeue: one more than the ``try-no`` of its newest abort after
        its newest requeue, else 1 — the newest 'queued' or 'aborted' line before the
        one found, in the same chunk or an older one. (A task set complete by hand
        after a requeue, never submitted, is said to be on try 1; the server says 0.)"""
        left = {p.encode("utf-8", "surrogateescape") for p in wanted}
        found: dict[str, Change] = {}
        counting: dict[bytes, tuple[str, Change]] = {}
        end = offset
        while (left or counting) and end > 0:
            start = max(0, end - CHUNK)
            if start:
                start = self.buffer.rfind(b"\n", 0, start) + 1
            if left:
                newest = dict(self._pairs(_PAIR, start, end))
                for path in left.intersection(newest):
                    change = self._change(newest[path])
                    if change is None:
                        continue
                    name, one, _job = change
                    found[name] = one
                    if one[1] in _RUNNING and name in tasks:
                        counting[path] = (name, one)
                left.difference_update(newest)
            if counting:
                requeued = dict(self._pairs(self._requeued, start, end))
                for path in counting.keys() & requeued.keys():
                    name, one = counting.pop(path)
                    found[name] = one[:2] + (_restarted(requeued[path]),) + one[3:]
            end = start
        for name, one in counting.values():  # back to the log's start: its first try
            found[name] = one[:2] + (1,) + one[3:]
        return found

    def between(self, start: int, end: int) -> list[tuple[str, Change, bool]]:
        """Every change between two offsets, in order: (path, change, job submission)."""
        return [c for c in map(self._change, self._texts(start, end)) if c is not None]

    def newest_between(self, start: int, end: int, try_at: Callable[[str], int],
                       tasks: set[str] | frozenset[str]) -> dict[str, Change]:
        """The newest change of each node that changed between two offsets, as
        ``last_before`` reads a chunk (dicts of (path, line) pairs, in C), with each
        task's try from ``try_at`` (its try at ``start``, asked only for a task that
        runs and was not requeued between): restarted by the newest requeue or abort
        between, else one more if a job was submitted between."""
        newest = dict(self._pairs(_PAIR, start, end))
        requeued = dict(self._pairs(self._requeued, start, end))
        submitted = set(self._submitted.findall(self.buffer, max(0, start - 1), end))
        found: dict[str, Change] = {}
        for raw, text in newest.items():
            change = self._change(text)
            if change is None:
                continue
            name, one, _job = change
            if name in tasks and one[1] in _RUNNING:
                again = requeued.get(raw)
                if again is not None:
                    try_no = _restarted(again)
                else:
                    try_no = try_at(name) + (raw in submitted)
                one = one[:2] + (try_no,) + one[3:]
            found[name] = one
        return found

    def changes_of(self, path: str) -> list[Change]:
        """Every change of one node, in order (one regular expression over the log)."""
        pattern = re.compile(rb"\nLOG:\[([^\n]*?: " + re.escape(path.encode()) +
                             rb"(?:[ \r][^\n]*)?)(?=\n)")
        texts = pattern.findall(self.buffer)
        if self.buffer[:5] == b"LOG:[":
            first = self.buffer[5:self.buffer.find(b"\n")]
            if first.partition(b": ")[2].partition(b" ")[0] == path.encode():
                texts.insert(0, first)
        out: list[Change] = []
        tries = 0
        for change in map(self._change, texts):
            if change is None or change[0] != path:
                continue
            _path, (when, state, try_no, reason), job = change
            if state == "submitted" and job:
                tries += 1
            elif state == "queued":
                tries = 0
            tries = try_no or tries
            out.append((when, state, tries, reason))
        return out

    def span(self) -> tuple[datetime | None, datetime | None]:
        """The first and last state change's moments (UTC)."""
        first = last = None
        end = self.size
        start = 0
        while start < self.size and first is None:
            texts = self._texts(start, min(self.size, start + CHUNK))
            first = next((c[1][0] for c in map(self._change, texts) if c), None)
            start += CHUNK
        while end > 0 and last is None:
            begin = max(0, end - CHUNK)
            if begin:
                begin = self.buffer.rfind(b"\n", 0, begin) + 1
            texts = self._texts(begin, end)
            last = next((c[1][0] for c in map(self._change, reversed(texts)) if c), None)
            end = begin
        return first, last

    def commands(self, pattern: re.Pattern[str]) -> list[tuple[datetime, str]]:
        """(UTC moment, text) of the suspend/resume command lines (``find``: C speed)."""
        starts: set[int] = set()
        grep, self._grep = self._grep, None
        if grep is not None:
            output, _err = grep.communicate()
            if grep.returncode in (0, 1):  # 1: none found
                starts = {int(line.partition(b":")[0]) for line in output.splitlines()
                          if line.partition(b":")[0].isdigit()}
                starts = {s for s in starts if s < self.size}
            else:
                grep = None
        if grep is None:
            starts = self._command_starts(0, self.size)
        return [(when, text) for when, text in self._command_lines(starts)
                if pattern.match(text)]

    def commands_between(self, start: int, end: int) -> list[tuple[datetime, str]]:
        """(UTC moment, text) of the suspend/resume command lines that start between two
        offsets, found by ``mmap.find`` (for a stretch of the log, not the whole)."""
        return self._command_lines(self._command_starts(start, end))

    def _command_starts(self, start: int, end: int) -> set[int]:
        starts: set[int] = set()
        for word in _COMMANDS:
            position = self.buffer.find(word, start, end)
            while position >= 0:
                line = self.buffer.rfind(b"\n", 0, position) + 1
                if line >= start:
                    starts.add(line)
                position = self.buffer.find(word, position + len(word), end)
        return starts

    def _command_lines(self, starts: set[int]) -> list[tuple[datetime, str]]:
        out: list[tuple[datetime, str]] = []
        for start in sorted(starts):
            end = self.buffer.find(b"\n", start)
            line = LINE.match(self.buffer[start:self.size if end < 0 else end + 1])
            if line is None or line.group(1) != b"MSG":
                continue
            try:
                when = self.clock.to_utc(naive_stamp(*line.groups()[1:7]))
            except ValueError:
                continue
            out.append((when, line.group(8).decode("utf-8", "replace").strip()))
        return out


def _restarted(text: bytes) -> int:
    """A task's try after its requeue or abort line (the text from its state word on):
    1 after a requeue, one more than the abort's ``try-no``."""
    state, _colon, rest = text.partition(b":")
    number = rest.partition(b" try-no: ")[2].partition(b" ")[0]
    return int(number) + 1 if state == b"aborted" and number.isdigit() else 1


def margin() -> timedelta:
    """How far a node's ``since`` (the suite calendar) may be behind the log's stamp of
    the same change: measured up to 2 s; the calendar's increment is a minute, so 90 s.
    A node whose since is older than that before an instant is read from the server."""
    return timedelta(seconds=90)
