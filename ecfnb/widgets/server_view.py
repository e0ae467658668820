"""``ServerView``: one server's part of a NodeTree, and the link to its poller.

What is on screen (``nodes``, ``pages``) is kept here, next to the ``poller``
child that keeps it current, so the poller can always be told exactly that.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from .._base.child import JsonLinesChild
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

    @property
    def address(self) -> str:
        return self.server.address

    # -- its poller ---------------------------------------------------------------------
    def start_poller(self, interval: float, paused: bool, on_message: Callable[[dict], Any],
                     on_exit: Callable[[], Any]) -> None:
        """Start this server's ``poller`` child, told at once what is on screen: forked
        from this process when the tree was filled from the kernel's sync (the child
        shares that synced copy instead of making its own: ``fork_child``), else, or
        with ``ECFNB_POLLER_FORK=0``, a new process that syncs for itself."""
        parent = os.getpid()
        command = [sys.executable, "-m", "ecfnb.widgets.poller", self.address,
                   "--interval", str(interval), "--timeout", str(self.server.timeout),
                   "--parent-pid", str(parent)]
        fork = None
        if self.filled and hasattr(os, "fork") and os.environ.get("ECFNB_POLLER_FORK") != "0":
            server = self.server

            def fork() -> int:
                return follow_forked(server, interval, parent)
        self.follower = JsonLinesChild(command, on_message, on_exit=on_exit,
                                       name=f"ecfnb-tree-{self.address}", commands=True,
                                       env=self.server.child_env(), fork=fork)
        with self.server.held_for_fork() if fork is not None else contextlib.nullcontext():
            self.follower.start()
        self.tell(Command(paused=True) if paused else None)

    def tell(self, extra: Command | None = None) -> bool:
        """Send the poller what is on screen now (with ``extra``'s other fields)."""
        return self.send(replace(extra or Command(), shown=tuple(sorted(self.nodes)),
                                 opened=dict(self.pages)))

    def send(self, command: Command) -> bool:
        return self.follower is not None and self.follower.running and \
            self.follower.send(command.to_json())

    def stop_poller(self) -> None:
        if self.follower is not None:
            self.follower.stop()
