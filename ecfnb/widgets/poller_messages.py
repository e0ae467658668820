"""What the explorer's poller tells the tree: typed records, one JSON object a line.

The watcher's events are frozen dataclasses with ``to_json``/``from_json``; so are
these, so that the tree matches on types instead of reading keys of raw dicts, and
a message the other side does not know is an error where it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._server.nodes import NodeInfo, info_from_json, info_to_json


@dataclass(frozen=True)
class NodeChanged:
    """A node on screen is not as last sent (its label, time, try, flags ...)."""

    info: NodeInfo


@dataclass(frozen=True)
class NodeGone:
    """A node on screen is no longer on the server."""

    path: str


@dataclass(frozen=True)
class Children:
    """An open node's first ``len(infos)`` children, of ``total``."""

    path: str
    total: int
    infos: tuple[NodeInfo, ...]


@dataclass(frozen=True)
class Matches:
    """The filter ``id``'s first hits (node paths, tree order) of ``total``, and the
    summaries of the hits and their ancestors."""

    id: int | None
    total: int
    hits: tuple[str, ...]
    infos: tuple[NodeInfo, ...]


@dataclass(frozen=True)
class Status:
    """The connection: 'connected', 'paused', 'disconnected' or 'error', at ``time``
    (ISO, UTC), with the requests the poll cost."""

    state: str
    time: str
    message: str = ""
    requests: int = 0


@dataclass(frozen=True)
class Done:
    """The command numbered ``seq`` has been applied (``refresh(wait=True)``)."""

    seq: int


Message = NodeChanged | NodeGone | Children | Matches | Status | Done


def to_json(message: Message) -> dict[str, Any]:
    if isinstance(message, NodeChanged):
        return {"type": "node", "info": info_to_json(message.info)}
    if isinstance(message, NodeGone):
        return {"type": "gone", "path": message.path}
    if isinstance(message, Children):
        return {"type": "children", "path": message.path, "total": message.total,
                "infos": [info_to_json(i) for i in message.infos]}
    if isinstance(message, Matches):
        return {"type": "matches", "id": message.id, "total": message.total,
                "hits": list(message.hits), "infos": [info_to_json(i) for i in message.infos]}
    if isinstance(message, Status):
        return {"type": "status", "state": message.state, "time": message.time,
                "message": message.message, "requests": message.requests}
    if isinstance(message, Done):
        return {"type": "done", "seq": message.seq}
    raise TypeError(f"not a poller message: {message!r}")


def from_json(data: dict[str, Any]) -> Message:
    kind = data.get("type")
    if kind == "node":
        return NodeChanged(info_from_json(data["info"]))
    if kind == "gone":
        return NodeGone(data["path"])
    if kind == "children":
        return Children(data["path"], int(data["total"]),
                        tuple(info_from_json(d) for d in data["infos"]))
    if kind == "matches":
        return Matches(data.get("id"), int(data["total"]), tuple(data["hits"]),
                       tuple(info_from_json(d) for d in data["infos"]))
    if kind == "status":
        return Status(data["state"], data["time"], data.get("message", ""),
                      int(data.get("requests", 0)))
    if kind == "done":
        return Done(int(data["seq"]))
    raise ValueError(f"unknown poller message {kind!r}")


@dataclass(frozen=True)
class Command:
    """What the tree tells its poller: what is on screen (``shown`` labels, ``opened``
    nodes with how many children each shows), the filter, the pace, a poll now.
    Fields left None are not changed; ``seq`` asks for a ``Done``."""

    shown: tuple[str, ...] | None = None
    opened: dict[str, int] | None = None
    filter: dict[str, Any] | None = field(default=None)
    clear_filter: bool = False
    interval: float | None = None
    paused: bool | None = None
    poll: bool = False
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.shown is not None:
            data["shown"] = list(self.shown)
        if self.opened is not None:
            data["opened"] = dict(self.opened)
        if self.filter is not None or self.clear_filter:
            data["filter"] = self.filter
        for name in ("interval", "paused", "seq"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.poll:
            data["poll"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Command:
        return cls(shown=tuple(data["shown"]) if "shown" in data else None,
                   opened={p: int(n) for p, n in data["opened"].items()}
                   if "opened" in data else None,
                   filter=data.get("filter"), clear_filter="filter" in data and
                   not data["filter"], interval=data.get("interval"),
                   paused=data.get("paused"), poll=bool(data.get("poll")),
                   seq=data.get("seq"))
