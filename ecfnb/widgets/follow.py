"""Background helpers of the views: following a growing file, and debouncing typing.

Both are threads that sleep in small steps (``_base.child.pause``), never a timed
lock wait: under libfaketime those never return, and ecfnb must run at any date.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import Callable
from typing import Any

from .._base.child import pause, safely

__all__ = ["FileFollower", "Debouncer"]


class FileFollower:
    """Calls ``on_lines(lines)`` with the complete lines appended to ``local`` after
    ``offset`` (default: its size now), checking its size every ``seconds``: no server
    request, only a ``stat``. Stops with ``stop()``, or when the file goes away, or when
    ``still_wanted()`` says False."""

    def __init__(self, local: str, seconds: float, on_lines: Callable[[list[str]], Any],
                 offset: int | None = None, name: str = "ecfnb-follow",
                 still_wanted: Callable[[], bool] = lambda: True) -> None:
        self.local, self.seconds, self.on_lines = local, seconds, on_lines
        self.still_wanted = still_wanted
        self.offset = os.path.getsize(local) if offset is None else offset
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def start(self) -> FileFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not pause(self._stop, self.seconds):
            try:
                size = os.path.getsize(self.local)
            except OSError:
                return
            if size < self.offset:  # the file was replaced (a new log, a rerun): from 0
                self.offset, self._partial = 0, ""
            if size <= self.offset:
                continue
            with open(self.local, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read(min(size - self.offset, 4 * 1024 * 1024))
            self.offset += len(data)
            text = self._partial + self._decoder.decode(data)
            *complete, self._partial = text.split("\n")
            if self._stop.is_set() or not self.still_wanted():
                return
            if complete:
                safely(self.on_lines, complete)


class Debouncer:
    """``call()`` runs ``action`` once ``seconds`` have passed without another call:
    typing in a search box searches when the typing pauses, not at every key."""

    def __init__(self, action: Callable[[], Any], seconds: float = 0.3) -> None:
        self.action, self.seconds = action, seconds
        self._lock = threading.Lock()
        self._due: float | None = None
        self._thread: threading.Thread | None = None

    def call(self) -> None:
        import time

        with self._lock:
            self._due = time.monotonic() + self.seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="ecfnb-debounce")
                self._thread.start()

    def _run(self) -> None:
        import time

        while True:
            with self._lock:
                due = self._due
                if due is None or time.monotonic() >= due:
                    self._due, self._thread = None, None
                    break
            time.sleep(max(0.0, min(0.05, due - time.monotonic())))
        safely(self.action)
