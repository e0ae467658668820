"""What each stretch of a server log changed, kept on disk between openings, so that
the tree at an instant reads a few MB of the log instead of a cycle of it.

``LogIndex`` finds the tree at ``t`` by reading backwards from ``t`` until every node
that changed since is met: at 100k tasks about one cycle of the suite, ~80 MB of a busy
log, 1.5 s — six cold syncs (measured). But what a stretch of a log changed never
changes once written. So one forward pass (a child process, on the other core, once
per log; a log that grew is read on from where it stopped) writes, for each stretch of
``STRETCH`` bytes, the newest change of every node in it with its try — what
``LogIndex.newest_between`` reads, the try carried from the stretches before — and the
suspend/resume commands in it: ~2.5 % of the log's size. The tree at ``t`` then reads
only the stretch ``t`` falls in, and finds each node's change before it in the stored
stretches, newest first: small dicts, looked up per node shown or intersected in C for
the whole tree.

Where: a folder per log under ``$ECFNB_CACHE`` (else ``$XDG_CACHE_HOME/ecfnb``, else
``~/.cache/ecfnb``), ``logs/<hash of the log's path and first 4 kB>``: a log cleared
or replaced (other first bytes, or shorter than what was read) starts again. Folders
whose log is gone are removed by the next pass. Stamps are kept as written (naive
seconds): the log's zone is applied when they are read, so one store serves any
``LogClock``.

Files: ``paths`` (one per line; a node's number is its line), ``stretches`` (records
appended: ``_HEAD``, then the entries' node numbers, states, stamps and tries, then the
abort reasons as JSON), ``commands`` (the suspend/resume lines, a JSON line each) and
``meta.json`` (written last, atomically: the log's identity and each record's place; a
reader trusts only what it lists).

Run by ``history()``: ``python -m ecfnb._map.logstore LOG`` (``update_in_background``).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .._base.child import run_main
from .._base.serverlog import LogClock
from .logindex import EVERY, Change, LogIndex

__all__ = ["LogStore", "Stretch", "STRETCH"]

#: Bytes of log per stored stretch (``ECFNB_LOG_STRETCH`` to change it: the tests make
#: small logs). 4 MB: a stretch's pairs are read in 0.02 s, 16 MB took 0.13 s.
STRETCH = 4 << 20
#: A log shorter than this many stretches is read directly (nothing to gain).
WORTH = 4
#: The stretches' states, by the number stored.
STATES = ("", "unknown", "queued", "submitted", "active", "complete", "aborted")
_CODE = {state: code for code, state in enumerate(STATES)}
_HEAD = struct.Struct("<QQII")  # stretch start, end, entries, bytes of JSON
_EPOCH = datetime(1970, 1, 1)
_VERSION = 1
#: Stretches kept decoded in memory (each a few thousand entries).
_KEEP = 64


def stretch_size() -> int:
    try:
        return max(256, int(os.environ.get("ECFNB_LOG_STRETCH", STRETCH)))
    except ValueError:
        return STRETCH


def cache_root() -> Path:
    given = os.environ.get("ECFNB_CACHE")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ecfnb"


class Stretch:
    """One stored stretch: ``start``-``end`` of the log and its nodes' newest changes."""

    __slots__ = ("start", "end", "where", "states", "stamps", "tries", "reasons")

    def __init__(self, start: int, end: int, ids: array, states: bytes, stamps: array,
                 tries: array, extra: dict) -> None:
        self.start, self.end = start, end
        self.where = dict(zip(ids, range(len(ids)), strict=True))  # node number -> entry
        self.states, self.stamps, self.tries = states, stamps, tries
        self.reasons: dict[str, str] = extra.get("reasons", {})  # entry -> abort reason

    def change(self, entry: int, clock: LogClock) -> Change:
        """The entry's change, its naive stamp read by ``clock`` (a fixed offset in one
        C call: the whole tree reads 100k of them)."""
        stamp = self.stamps[entry]
        if clock.zone is None:
            when = datetime.fromtimestamp(stamp - clock.offset.total_seconds(), timezone.utc)
        else:
            when = clock.to_utc(_EPOCH + timedelta(seconds=stamp))
        return (when, STATES[self.states[entry]], self.tries[entry],
                self.reasons.get(str(entry), "") if self.reasons else "")


class LogStore:
    """The stored stretches of one log file (``open``), read-only to the reader."""

    def __init__(self, log: Path, folder: Path) -> None:
        self.log, self.folder = log, folder
        self._meta_stamp: float | None = None
        self.records: list[tuple[int, int, int]] = []  # (start, end, place in file)
        self.starts: list[int] = []
        self._ids: dict[str, int] | None = None
        self._paths_read = 0
        self._decoded: OrderedDict[int, Stretch] = OrderedDict()
        self._file: mmap.mmap | None = None
        self._child: subprocess.Popen | None = None

    @classmethod
    def open(cls, log: str | os.PathLike) -> LogStore:
        path = Path(os.path.realpath(log))
        return cls(path, cache_root() / "logs" / _key(path))

    # -- what is stored -------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read ``meta.json`` again if it changed; whether any stretch is stored for the
        log as it is now (same first bytes, not shorter)."""
        meta_file = self.folder / "meta.json"
        try:
            stamp = meta_file.stat().st_mtime_ns
        except OSError:
            return False
        if stamp != self._meta_stamp:
            try:
                meta = json.loads(meta_file.read_text())
            except (OSError, ValueError):
                return False
            if meta.get("version") != _VERSION or meta.get("head") != _head(self.log):
                return False
            records = [tuple(r) for r in meta.get("records", [])]
            if records[:len(self.records)] != self.records:  # stored again from the start
                self._decoded.clear()
                self._ids, self._paths_read = None, 0
            self.records = records
            self.starts = [r[0] for r in self.records]
            self._meta_stamp = stamp
            if self._file is not None:
                self._file.close()
                self._file = None
        try:
            size = self.log.stat().st_size
        except OSError:
            return False
        return bool(self.records) and self.records[-1][1] <= size

    @property
    def covered(self) -> int:
        """Where the stored stretches end (0: none)."""
        return self.records[-1][1] if self.records else 0

    def number(self, path: str) -> int | None:
        """A path's node number (None: never in a stored stretch)."""
        if self._ids is None:
            self._ids = {}
        found = self._ids.get(path)
        if found is None:
            self._read_paths()
            found = self._ids.get(path)
        return found

    def numbers(self, paths: Iterable[str]) -> dict[int, str]:
        self._read_paths()
        ids = self._ids or {}
        return {ids[p]: p for p in paths if p in ids}

    def _read_paths(self) -> None:
        """The paths file from where it was last read (it only grows)."""
        if self._ids is None:
            self._ids = {}
        try:
            with open(self.folder / "paths", "rb") as file:
                file.seek(self._paths_read)
                data = file.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        names = data[:end].decode("utf-8", "surrogateescape").split("\n")[:-1]
        first = len(self._ids)
        self._ids.update(zip(names, range(first, first + len(names)), strict=True))
        self._paths_read += end

    def stretch(self, number: int) -> Stretch:
        """Stored stretch ``number`` (0 = the log's first), decoded and kept."""
        found = self._decoded.get(number)
        if found is not None:
            self._decoded.move_to_end(number)
            return found
        if self._file is None:
            with open(self.folder / "stretches", "rb") as file:
                self._file = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        start, end, place = self.records[number]
        found = _decode(self._file, place)
        self._decoded[number] = found
        if len(self._decoded) > _KEEP:
            self._decoded.popitem(last=False)
        return found

    def before(self, number: int, path: str, clock: LogClock) -> Change | None:
        """``path``'s newest change in the stretches before ``number``."""
        node = self.number(path)
        if node is None:
            return None
        for one in range(number - 1, -1, -1):
            stretch = self.stretch(one)
            entry = stretch.where.get(node)
            if entry is not None:
                return stretch.change(entry, clock)
        return None

    def all_before(self, number: int, wanted: dict[int, str], clock: LogClock
                   ) -> dict[str, Change]:
        """The newest change before stretch ``number`` of each of ``wanted`` (node
        number → path), newest stretch first, by set intersections."""
        left = set(wanted)
        found: dict[str, Change] = {}
        for one in range(number - 1, -1, -1):
            if not left:
                break
            stretch = self.stretch(one)
            for node in left.intersection(stretch.where):
                found[wanted[node]] = stretch.change(stretch.where[node], clock)
            left.difference_update(stretch.where)
        return found

    def commands(self, count: int) -> list[tuple[datetime, str]]:
        """The suspend/resume command lines of the first ``count`` stored stretches
        (naive stamps), from the ``commands`` file (one JSON line each: the stretch's
        start, the stamp, the text), not from the stretches themselves."""
        if not count:
            return []
        end = self.records[count - 1][1]
        out = []
        try:
            with open(self.folder / "commands", "rb") as file:
                for line in file:
                    try:
                        start, stamp, text = json.loads(line)
                    except ValueError:
                        continue  # (a line being written)
                    if start < end:
                        out.append((_EPOCH + timedelta(seconds=stamp), text))
        except OSError:
            pass
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()

    # -- making it ------------------------------------------------------------------------
    def wanted(self) -> bool:
        """Whether the log has grown by a stretch past what is stored (and is worth it)."""
        try:
            size = self.log.stat().st_size
        except OSError:
            return False
        step = stretch_size()
        self.refresh()
        return size >= WORTH * step and size - self.covered >= step

    def update_in_background(self) -> bool:
        """Start the pass that stores the log's new stretches (a child process, on the
        other core; one at a time per log: a lock in the folder). False if one runs."""
        if self._child is not None and self._child.poll() is None:
            return False
        self._child = subprocess.Popen(  # noqa: S603 - this interpreter, a file name
            [sys.executable, "-m", "ecfnb._map.logstore", os.fspath(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "ECFNB_CACHE": str(cache_root())})
        return True

    def updating(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a pass started here to end; whether stretches are stored."""
        if self._child is not None:
            try:
                self._child.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
        return self.refresh()


def _key(log: Path) -> str:
    digest = hashlib.sha1(os.fsencode(log))
    digest.update(_head(log).encode())
    return digest.hexdigest()[:24]


def _head(log: Path) -> str:
    """A hash of the log's first 4 kB: another file at the same path differs."""
    try:
        with open(log, "rb") as file:
            return hashlib.sha1(file.read(4096)).hexdigest()
    except OSError:
        return ""


def _decode(buffer: mmap.mmap, place: int) -> Stretch:
    start, end, count, extra = _HEAD.unpack_from(buffer, place)
    at = place + _HEAD.size
    ids = array("I")
    ids.frombytes(buffer[at:at + 4 * count])
    at += 4 * count
    states = buffer[at:at + count]
    at += count
    stamps = array("q")
    stamps.frombytes(buffer[at:at + 8 * count])
    at += 8 * count
    tries = array("H")
    tries.frombytes(buffer[at:at + 2 * count])
    at += 2 * count
    return Stretch(start, end, ids, states, stamps, tries, json.loads(buffer[at:at + extra]))


def _encode(start: int, end: int, changes: dict[int, Change]) -> bytes:
    ids = array("I", changes)
    states = bytes(_CODE.get(c[1], 1) for c in changes.values())
    stamps = array("q", (_seconds(c[0]) for c in changes.values()))
    tries = array("H", (min(c[2], 65535) for c in changes.values()))
    reasons = {str(k): c[3] for k, c in enumerate(changes.values()) if c[3]}
    extra = json.dumps({"reasons": reasons}).encode()
    return (_HEAD.pack(start, end, len(ids), len(extra)) + ids.tobytes() + states +
            stamps.tobytes() + tries.tobytes() + extra)


def build(log: str | os.PathLike) -> int:
    """Store the stretches of ``log`` not stored yet; the number added. Holds the
    folder's lock (another pass running: returns 0 at once)."""
    store = LogStore.open(log)
    folder = store.folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0
        _forget_gone(folder.parent, folder)
        if not store.refresh():
            for name in ("meta.json", "paths", "commands", "stretches"):  # stale or new
                (folder / name).unlink(missing_ok=True)
            store.records = []
        return _extend(store)


def _extend(store: LogStore) -> int:
    """Read the log on from the last stored stretch and append its stretches."""
    index = LogIndex.open(store.log, LogClock(), grep=False)  # naive stamps, as written
    try:
        step = stretch_size()
        store._read_paths()
        ids = dict(store._ids or {})
        by_number = {n: p for p, n in ids.items()}
        state_of: dict[str, tuple[str, int]] = {}  # path -> (state, try) where it stops
        for number in range(len(store.records)):
            stretch = store.stretch(number)
            for node, entry in stretch.where.items():
                state_of[by_number[node]] = (STATES[stretch.states[entry]], stretch.tries[entry])

        def try_at(path: str) -> int:
            was = state_of.get(path)
            return was[1] if was is not None and was[0] != "queued" else 0
        records = list(store.records)
        start, added = store.covered, 0
        with open(store.folder / "paths", "ab") as paths, \
                open(store.folder / "commands", "ab") as said, \
                open(store.folder / "stretches", "ab") as out:
            place = out.tell()
            while index.size - start >= step:
                end = index.buffer.rfind(b"\n", start, start + step) + 1 or start + step
                newest = index.newest_between(start, end, try_at, EVERY)
                fresh = [p for p in newest if p not in ids]
                ids.update(zip(fresh, range(len(ids), len(ids) + len(fresh)), strict=True))
                if fresh:
                    paths.write(("\n".join(fresh) + "\n").encode("utf-8", "surrogateescape"))
                    paths.flush()
                for path, change in newest.items():
                    state_of[path] = (change[1], change[2])
                for moment, text in index.commands_between(start, end):
                    said.write((json.dumps([start, _seconds(moment), text]) + "\n").encode())
                said.flush()
                record = _encode(start, end, {ids[p]: c for p, c in newest.items()})
                out.write(record)
                out.flush()
                records.append((start, end, place))
                place += len(record)
                start, added = end, added + 1
                if added % 16 == 0:  # a reader may use what is done so far
                    _write_meta(store, records)
        _write_meta(store, records)
        return added
    finally:
        index.close()


def _seconds(moment: datetime) -> int:
    """A stamp read by the naive clock (``LogClock()``) as seconds since 1970."""
    return int((moment.replace(tzinfo=None) - _EPOCH).total_seconds())


def _write_meta(store: LogStore, records: list[tuple[int, int, int]]) -> None:
    meta = {"version": _VERSION, "log": os.fspath(store.log), "head": _head(store.log),
            "stretch": stretch_size(), "records": records, "written": time.time()}
    temporary = store.folder / "meta.json.new"
    temporary.write_text(json.dumps(meta))
    os.replace(temporary, store.folder / "meta.json")


def _forget_gone(root: Path, keep: Path) -> None:
    """Remove the folders of logs that no longer exist (their tests' or rotated)."""
    for folder in root.iterdir() if root.is_dir() else ():
        if folder == keep or not folder.is_dir():
            continue
        try:
            log = json.loads((folder / "meta.json").read_text()).get("log", "")
        except (OSError, ValueError):
            log = ""
        if log and not os.path.exists(log):
            shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    build(args.log)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecfnb._map.logstore",
                                     description="store a server log's stretches")
    parser.add_argument("log")
    return run_main(parser, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
