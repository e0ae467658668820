"""``ServerView``: one server's part of a NodeTree, and the link to its poller.

What is on screen (``nodes``, ``pages``) is kept here, next to the ``poller``
child that keeps it current, so the poller can always be told exactly that.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from .._base.child import JsonLinesChild, own_memory
from .._map.fsmap import FileSystemMap
from .._server.nodes import NodeInfo
from .._server.server import Server
from .poller import follow_forked
from .poller_messages import Command
from .tree_view import Item

__all__ = ["ServerView"]


class ServerView:
    """One server's part of a tree: its connection, its widgets and what is open."""

    def __init__(self, index: int, server: Server) -> None:
        self.index = index
        self.server = server
        self.fsmap = FileSystemMap(server)
        self.status, self.message = "connecting", ""
        self.last_sync: datetime | None = None
        self.state = "unknown"
        self.widget: Item | None = None
        self.nodes: dict[str, Item] = {}  # path -> row, for every node shown
        self.infos: dict[str, NodeInfo] = {}  # what each label shows
        self.pages: dict[str, int] = {}  # open path -> how many children are shown
        self.follower: JsonLinesChild | None = None
        self.filtered = False
        self.reopen: list[str] = []  # what was open when a filter was set
        self.matches: tuple[int, int] = (0, 0)  # shown, total
        self.filled = False  # its first rows are shown (by the kernel or the poller)
        self.pending_select: str | None = None  # selected once filled
        self.reforks = 0  # pollers forked again to share the tree (refork_if_unshared)
        self._poller_lock = threading.RLock()
        self._generation = 0
        self._closed = False
        self._looked = -math.inf
        self._looking = False
        self._interval, self._paused = 10.0, False
        self._on_message: Callable[[dict], Any] = lambda data: None
        self._on_exit: Callable[[], Any] = lambda: None

    @property
    def address(self) -> str:
        return self.server.address

    # -- its poller ---------------------------------------------------------------------
    #: A forked poller is forked again from the kernel (``refork_if_unshared``) once
    #: this share of its resident memory, and at least ``REFORK_AT_LEAST`` bytes, are its
    #: own: it walked the whole tree (a filter: the binding writes each node's reference
    #: count as it hands it out, so every page is copied) or made a full sync (a suite
    #: loaded or replaced), and the two processes hold two copies of the tree again.
    REFORK_SHARE = 0.25
    REFORK_AT_LEAST = 32 << 20
    #: Seconds between two looks at the poller's memory (a look reads its page tables:
    #: milliseconds at a million tasks; made in a thread, never in the click).
    REFORK_EVERY = 2.0

    def start_poller(self, interval: float, paused: bool, on_message: Callable[[dict], Any],
                     on_exit: Callable[[], Any]) -> None:
        """Start this server's ``poller`` child, told at once what is on screen: forked
        from this process when the tree was filled from the kernel's sync (the child
        shares that synced copy instead of making its own: ``fork_child``), else, or
        with ``ECFNB_POLLER_FORK=0``, a new process that syncs for itself."""
        self._interval, self._paused = interval, paused
        self._on_message, self._on_exit = on_message, on_exit
        with self._poller_lock:
            self._closed = False
            self.follower = self._new_poller()

    def _new_poller(self) -> JsonLinesChild:
        """A started poller (under ``_poller_lock``). Only the newest poller's messages
        reach the tree; a ``Done`` from the one it replaced still does (a refresh sent to
        it must not wait for ever; the new one polls at once and sends every row)."""
        self._generation += 1
        generation = self._generation

        def message(data: dict) -> None:
            if generation == self._generation or data.get("type") == "done":
                self._on_message(data)

        def ended() -> None:
            if generation == self._generation:
                self._on_exit()

        parent, interval = os.getpid(), self._interval
        command = [sys.executable, "-m", "ecfnb.widgets.poller", self.address,
                   "--interval", str(interval), "--timeout", str(self.server.timeout),
                   "--parent-pid", str(parent)]
        fork = None
        if self.filled and hasattr(os, "fork") and os.environ.get("ECFNB_POLLER_FORK") != "0":
            server = self.server

            def fork() -> int:
                return follow_forked(server, interval, parent)
        follower = JsonLinesChild(command, message, on_exit=ended,
                                  name=f"ecfnb-tree-{self.address}", commands=True,
                                  env=self.server.child_env(), fork=fork)
        with self.server.held_for_fork() if fork is not None else contextlib.nullcontext():
            follower.start()
        follower.send(self._screen(Command(paused=True) if self._paused else None).to_json())
        return follower

    @property
    def forked(self) -> bool:
        """Whether the running poller is a fork of this process."""
        follower = self.follower
        return follower is not None and follower.fork is not None and follower.running

    def refork_if_unshared(self, force: bool = False) -> None:
        """After the kernel's copy caught up (``NodeTree.catch_up``): if the forked
        poller holds most of the tree as its own pages again (``REFORK_SHARE``), fork a
        new one from the caught-up kernel, which shares its pages, and end the old one.
        Looked at in a thread, at most every ``REFORK_EVERY`` s unless ``force`` (after
        what copies the tree: a full sync, a filter cleared); never while a filter is
        set (the poller walks the whole tree again at each change)."""
        now = time.monotonic()
        if not self.forked or self.filtered or self._looking:
            return
        if not force and now - self._looked < self.REFORK_EVERY:
            return
        self._looked, self._looking = now, True
        threading.Thread(target=self._refork_if_unshared, daemon=True,
                         name=f"ecfnb-refork-{self.address}").start()

    def _refork_if_unshared(self) -> bool:
        try:
            return self._refork_now()
        finally:
            self._looking = False

    def _refork_now(self) -> bool:
        old = self.follower
        memory = own_memory(old.pid) if old is not None and old.pid else None
        if memory is None:
            return False
        own, resident = memory
        if own < max(self.REFORK_AT_LEAST, self.REFORK_SHARE * resident):
            return False
        with self._poller_lock:
            if self._closed or self.filtered or self.follower is not old:
                return False
            self.follower = self._new_poller()
            self.reforks += 1
        if old is not None:
            old.stop()
        return True

    def tell(self, extra: Command | None = None) -> bool:
        """Send the poller what is on screen now (with ``extra``'s other fields)."""
        return self.send(self._screen(extra))

    def _screen(self, extra: Command | None) -> Command:
        return replace(extra or Command(), shown=tuple(sorted(self.nodes)),
                       opened=dict(self.pages))

    def send(self, command: Command) -> bool:
        with self._poller_lock:  # not to a poller being replaced
            if command.interval is not None:
                self._interval = command.interval
            if command.paused is not None:
                self._paused = command.paused
            follower = self.follower
            return follower is not None and follower.running and \
                follower.send(command.to_json())

    def stop_poller(self) -> None:
        with self._poller_lock:
            self._closed = True
            follower = self.follower
        if follower is not None:
            follower.stop()
