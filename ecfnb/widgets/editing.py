"""Editing from the panel: a node's variables and attributes, its job script (Edit and
submit, as ecflow_ui's Edit panel), and the actions taken on it (the session's log).

Thin adapters: the checks and the ``ecflow_client`` commands are the Server's
(``set_variable``, ``set_meter``, ``edit_script``, ``submit_script`` ...: one home,
the same for a notebook cell); every change goes through the panel's confirmation
(``confirm(question, run)``), and the server's refusal is shown there, in its words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from .._server import changes
from .._server.changes import EditableScript, action_log, script_variables
from .._server.nodes import NodeInfo
from .._server.server import Server
from ..errors import EcfnbError
from . import tree_html
from .views import View

__all__ = ["AttributeEditor", "ScriptView", "ActionsView", "EDIT_KINDS"]

#: What the editor can change, in its menu's order: kind -> (label, what the value is).
EDIT_KINDS = {
    "variable": ("variable", "value"), "label": ("label", "new text"),
    "meter": ("meter", "value"), "event": ("event", "set / clear"),
    "limit": ("limit: tokens in use", "value"), "limit_max": ("limit: maximum", "maximum"),
    "repeat": ("repeat", "value"), "late": ("late", "-s +00:15 -c +02:00"),
    "time": ("time", "23:00 or +00:30"), "today": ("today", "23:00"),
    "date": ("date", "1.*.*"), "day": ("day", "monday")}
#: Kinds with names the node must already have (the others take a new one).
_NAMED = {"label": "label", "meter": "meter", "event": "event", "limit": "limit",
          "limit_max": "limit"}


class AttributeEditor(View):
    """Under the Variables and Attributes tabs: pick what to change, give the value,
    Set (or Delete/Clear). Own variables are changed or deleted; an inherited one is
    overridden on this node (the table says where each comes from)."""

    title = "Editor"

    def __init__(self, *args: Any, variables: bool = False, done: Callable[[str], Any]
                 | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.variables_only = variables
        self.done = done
        self.kind = widgets.Dropdown(options=[("variable", "variable")], value="variable",
                                     layout=widgets.Layout(width="11em"))
        self.name = widgets.Combobox(placeholder="name", layout=widgets.Layout(width="12em"),
                                     ensure_option=False)
        self.value = widgets.Text(placeholder="value", layout=widgets.Layout(width="16em"))
        self.set_button = widgets.Button(description="Set", icon="pencil",
                                         layout=widgets.Layout(width="auto"))
        self.delete_button = widgets.Button(description="Delete", icon="trash",
                                            layout=widgets.Layout(width="auto"))
        self.set_button.on_click(lambda _b: self.apply())
        self.delete_button.on_click(lambda _b: self.apply(delete=True))
        self.kind.observe(self._kind_changed, "value")
        self.name.observe(self._name_changed, "value")
        self.widget = widgets.HBox([widgets.HTML("<b>change</b>"), self.kind, self.name,
                                    self.value, self.set_button, self.delete_button],
                                   layout=widgets.Layout(flex_flow="row wrap",
                                                         align_items="center"))
        self.widget.add_class("ecfnb-editor" + ("-variables" if variables else ""))
        for part, name in ((self.kind, "kind"), (self.name, "name"), (self.value, "value"),
                           (self.set_button, "set"), (self.delete_button, "delete")):
            part.add_class(f"ecfnb-editor-{name}")

    def draw(self) -> None:
        info = self.full()
        if info is None:
            return
        have = {a.kind for a in info.attributes}
        if self.variables_only:
            kinds = ["variable"]
        else:
            kinds = [k for k in EDIT_KINDS if k != "variable" and
                     (k not in _NAMED and k != "repeat" or
                      (_NAMED.get(k, k) in have))]
            if info.kind == "server":
                kinds = []
        self.widget.layout.display = "" if kinds and not self.read_only else "none"
        if not kinds:
            return
        current = self.kind.value if self.kind.value in kinds else kinds[0]
        self.kind.options = [(EDIT_KINDS[k][0], k) for k in kinds]
        self.kind.value = current
        self._kind_changed()

    def full(self) -> NodeInfo | None:
        """The shown node with its attributes and variables (``Server.node``)."""
        if self.server is None or self.info is None:
            return None
        return self.server.node(self.info.path)

    def _kind_changed(self, _change: Any = None) -> None:
        info = self.info
        if self.server is None or info is None:
            return
        kind = self.kind.value
        full = self.full()
        if full is None:
            return
        if kind == "variable":
            names = [v.name for v in full.variables if v.origin == "own"]
        elif kind in _NAMED:
            names = [a.name for a in full.attributes if a.kind == _NAMED[kind]]
        else:
            names = []
        self.name.options = tuple(names)
        self.name.disabled = kind not in ("variable", *_NAMED)
        self.name.value = names[0] if names and kind != "variable" else ""
        self.value.placeholder = EDIT_KINDS[kind][1]
        self.delete_button.description = "Clear" if kind == "event" else "Delete"
        self.delete_button.layout.display = "" if kind in (
            "variable", "event", "time", "today", "date", "day") else "none"
        self._name_changed()

    def _name_changed(self, _change: Any = None) -> None:
        """Put the current value in the box, to edit it rather than type it."""
        full = self.full() if self.kind.value in ("variable", *_NAMED, "repeat") else None
        if full is None:
            return
        name, kind = self.name.value, self.kind.value
        if kind == "variable":
            found = next((v.value for v in full.variables if v.name == name), None)
        elif kind == "repeat":
            found = next((a.value for a in full.attributes if a.kind == "repeat"), None)
        else:
            # a limit's value is its tokens in use; its maximum is in its definition line
            # ('limit lim 2  # in use 1'), the number the maximum's box is to start from
            found = next((a.text.split()[2] if kind == "limit_max" else a.value
                          for a in full.attributes
                          if a.kind == _NAMED[kind] and a.name == name), None)
        if found is not None:
            self.value.value = str(found).split()[0] if kind in ("limit", "limit_max",
                                                                 "meter") else str(found)

    def apply(self, delete: bool = False) -> None:
        """Check the change, ask for confirmation, then send it (the Set/Delete buttons)."""
        if self.server is None or self.info is None:
            return
        server, path = self.server, self.info.path
        kind, name, value = self.kind.value, self.name.value.strip(), self.value.value.strip()
        try:
            call, question, check = _change(server, path, kind, name, value, delete)
            check(server.node(path))
        except (ValueError, EcfnbError) as exc:
            self.confirm_error(exc)
            return

        def run() -> str:
            report = call()
            if self.done is not None:
                self.done(path)
            return report
        self.confirm(question, run)

    def confirm_error(self, exc: Exception) -> None:
        """A bad value: said before anything is asked or sent (``confirm`` with no
        call only tells)."""
        self.confirm(f"cannot send this change: {exc}", None)

    def show_error(self, exc: Exception) -> None:
        self.widget.layout.display = "none"


def _change(server: Server, path: str, kind: str, name: str, value: str, delete: bool
            ) -> tuple[Callable[[], str], str, Callable[[NodeInfo], Any]]:
    """(the call that makes the change, its question, the check of it against the node:
    ``changes``' own, run before anything is asked); ValueError for what cannot be."""
    if kind == "variable":
        if not name:
            raise ValueError("give the variable's name")
        if delete:
            return (lambda: server.delete_variable(path, name),
                    f"Delete variable {name} of {path}?",
                    lambda info: changes.variable_delete(info, name))
        return (lambda: server.set_variable(path, name, value),
                f"Set variable {name} of {path} to {value!r}?",
                lambda info: changes.variable_change(info, name, value))
    if kind == "event":
        on = not delete and value.lower() not in ("clear", "0", "false", "off")
        return (lambda: server.set_event(path, name, on),
                f"{'Set' if on else 'Clear'} event {name} of {path}?",
                lambda info: changes.event_change(info, name, on))
    if kind in ("time", "today", "date", "day"):
        if delete:
            return (lambda: server.delete_time(path, kind, value),
                    f"Delete {kind} {value} of {path}?",
                    lambda info: changes.time_change(info, kind, value, add=False))
        return (lambda: server.add_time(path, kind, value), f"Add {kind} {value} to {path}?",
                lambda info: changes.time_change(info, kind, value, add=True))
    if kind == "label":
        return (lambda: server.set_label(path, name, value),
                f"Set label {name} of {path} to {value!r}?",
                lambda info: changes.label_change(info, name, value))
    if kind in ("meter", "limit", "limit_max"):
        if not value.lstrip("-").isdigit():
            raise ValueError(f"a {EDIT_KINDS[kind][0]} takes a whole number, not {value!r}")
        number = int(value)
        if kind == "meter":
            return (lambda: server.set_meter(path, name, number),
                    f"Set meter {name} of {path} to {number}?",
                    lambda info: changes.meter_change(info, name, number))
        if kind == "limit":
            return (lambda: server.set_limit(path, name, value=number),
                    f"Set the tokens in use of limit {name} of {path} to {number}?",
                    lambda info: changes.limit_change(info, name, value=number))
        return (lambda: server.set_limit(path, name, maximum=number),
                f"Set the maximum of limit {name} of {path} to {number}?",
                lambda info: changes.limit_change(info, name, maximum=number))
    if kind == "repeat":
        return (lambda: server.set_repeat(path, value),
                f"Set the repeat of {path} to {value}? Its next run uses that value.",
                lambda info: changes.repeat_change(info, value))
    if kind == "late":
        return (lambda: server.set_late(path, value), f"Set late {value} on {path}?",
                lambda info: changes.late_change(info, value))
    raise ValueError(f"unknown kind of change {kind!r}")


class ScriptView(View):
    """The Edit tab: the job script as the server pre-processes it for editing
    (``--edit_script edit``: the variables it uses first, in a ``%comment`` block),
    editable here with those variables, and submitted as the task's next job
    (``--edit_script submit_file``) after a confirmation."""

    title = "Edit"

    def __init__(self, *args: Any, done: Callable[[str], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.done = done
        self.script: EditableScript | None = None
        self.note = widgets.HTML()
        self.variables = widgets.Textarea(placeholder="NAME = value, one per line",
                                          layout=widgets.Layout(width="100%", height="6em"))
        self.text = widgets.Textarea(layout=widgets.Layout(width="100%", height="24em"))
        self.reload = widgets.Button(description="Reload", icon="refresh",
                                     layout=widgets.Layout(width="auto"))
        self.submit = widgets.Button(description="Submit", icon="play",
                                     button_style="warning",
                                     layout=widgets.Layout(width="auto"))
        self.reload.on_click(lambda _b: self.redraw())
        self.submit.on_click(lambda _b: self.ask_submit())
        self.widget = widgets.VBox([
            widgets.HBox([self.reload, self.submit, self.note],
                         layout=widgets.Layout(align_items="center")),
            widgets.HTML("<b>variables the script uses</b> (sent with it)"), self.variables,
            widgets.HTML("<b>script</b>"), self.text])
        self.widget.add_class("ecfnb-view-edit")
        for part, name in ((self.variables, "variables"), (self.text, "text"),
                           (self.submit, "submit"), (self.reload, "reload"),
                           (self.note, "note")):
            part.add_class(f"ecfnb-edit-{name}")

    def draw(self) -> None:
        assert self.server is not None and self.info is not None
        self.script = self.server.edit_script(self.info.path)
        self.text.value = _without_block(self.script.text)
        self.variables.value = "".join(f"{k} = {v}\n" for k, v in
                                       self.script.variables.items())
        self.submit.disabled = self.read_only
        self.note.value = tree_html.message(
            f"the script of {self.info.path} as the server pre-processes it for editing",
            ok=True)

    def changed(self, info: NodeInfo) -> None:
        self.info = info  # an edit in progress is not overwritten by the node's change

    def ask_submit(self) -> None:
        if self.server is None or self.info is None or self.script is None:
            return
        server, path = self.server, self.info.path
        chosen = script_variables("%comment\n" + self.variables.value + "\n%end\n")
        text = _with_block(self.script.text, self.text.value, chosen)

        def run() -> str:
            report = server.submit_script(path, text)
            if self.done is not None:
                self.done(path)
            return report
        self.confirm(f"Submit the edited script of {path} as its next job? The server "
                     "runs it at once, whatever its triggers and limits say.", run)

    def show_error(self, exc: Exception) -> None:
        self.note.value = tree_html.message(str(exc), ok=False)
        self.text.value = ""
        self.submit.disabled = True


def _without_block(text: str) -> str:
    """The script without its leading ``%comment`` variables block (shown apart)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("%comment"):
        for index, line in enumerate(lines):
            if line.startswith("%end"):
                return "".join(lines[index + 1:])
    return text


def _with_block(original: str, body: str, variables: dict[str, str]) -> str:
    """The text to submit: the variables block (as the server gave it, with the new
    values) then the edited body."""
    head = ""
    lines = original.splitlines(keepends=True)
    if lines and lines[0].startswith("%comment"):
        end = next((i for i, line in enumerate(lines) if line.startswith("%end")), None)
        if end is not None:
            head = (lines[0] + "".join(f"{k} = {v}\n" for k, v in variables.items())
                    + lines[end])
    return head + body


class ActionsView(View):
    """The Actions tab: what was done from ecfnb in this session on the node, above
    or below it (who, when, the command, the server's answer)."""

    title = "Actions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.widget = widgets.HTML()
        self.widget.add_class("ecfnb-view-actions")

    def draw(self) -> None:
        assert self.info is not None and self.server is not None
        self.widget.value = action_log().about(self.info.path,
                                               self.server.address)._repr_html_()

    def show_error(self, exc: Exception) -> None:
        self.widget.value = tree_html.message(str(exc), ok=False)
