"""Names that cannot break: after every submodule has been imported, every public name
is still what it was (no module replaced a function), and every public function can be
called twice (``ecfnb.incident`` used to become a module at its first call)."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import ecfnb


def import_every_submodule() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(ecfnb.__path__, "ecfnb."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as exc:  # an optional dependency (mfusepy, ipywidgets)
            pytest.skip(f"{info.name}: {exc}")
        names.append(info.name)
    return names


def test_no_submodule_shadows_a_public_name():
    before = {name: getattr(ecfnb, name) for name in ecfnb.__all__ if name != "__version__"}
    imported = import_every_submodule()
    assert "ecfnb._incident" in imported and "ecfnb._watch" in imported
    for name, value in before.items():
        after = getattr(ecfnb, name)
        assert after is value, name
        assert not isinstance(after, types.ModuleType), name
    watch_module = importlib.import_module("ecfnb._watch.watcher")
    assert watch_module.AbortWatcher is ecfnb.AbortWatcher  # the module's own name works
    for name in ecfnb.__all__:
        if name != "__version__":
            assert getattr(importlib.import_module("ecfnb"), name) is not None


def test_every_public_function_works_twice(demo, tmp_path):
    import_every_submodule()
    server = ecfnb.connect(demo.address)
    for _ in range(2):
        assert ecfnb.connect(demo.address).node("/demo").kind == "suite"
        assert ecfnb.resolve(server) is server
        assert ecfnb.incident("/demo/forecast/post", server).path == "/demo/forecast/post"
        assert ecfnb.timeline(server, "/demo").runs
        assert ecfnb.parse_log([]) == []
        assert ecfnb.triggers(server, "/demo/forecast/post").waits_on
        assert ecfnb.neighbourhood(server, "/demo/forecast/post").centre == \
            "/demo/forecast/post"
        assert len(ecfnb.log_page(server, 5).lines) == 5
        assert ecfnb.table_page(server, "/demo").total > 0
        assert ecfnb.preview(server, "rerun", "/demo/forecast/post").submitted
        assert isinstance(ecfnb.action_log(), ecfnb.ActionLog)
        past = ecfnb.history(server)
        assert past.at(past.span[1])["/demo/forecast/post"].state == "aborted"
        assert "aborted" in ecfnb.forecast(server, "/demo/forecast").node.why
        assert len(ecfnb.replay(server, "/demo", [past.span[1]]).points) == 1
        explorer = ecfnb.explore(server, interval=60)
        explorer.close()
        panel = ecfnb.watch(server, interval=60)
        panel.close()
        from IPython.core.interactiveshell import InteractiveShell

        ecfnb.load_ipython_extension(InteractiveShell.instance())
        assert ecfnb.parse_address("[::1]:4141") == ("::1", 4141)
        assert ecfnb.format_address("::1", 4141) == "[::1]:4141"
        assert ecfnb.check_action("suspend", "task").name == "suspend"
        assert ecfnb.available_actions(server.node("/demo/forecast/post", detail=False))
        assert ecfnb.actions_for("server")
        assert isinstance(ecfnb.fuse_available(), tuple)
        assert isinstance(ecfnb.mounts(), list) and not ecfnb.is_mounted(str(tmp_path))
        assert ecfnb.jupyterfs_config({"d": demo.address})["JupyterFs"]["resources"]
        assert 1024 <= ecfnb.free_port() <= 49151
    functions = {name for name in ecfnb.__all__
                 if isinstance(getattr(ecfnb, name), types.FunctionType)}
    # Every public function is called above (twice), but those that act on the world:
    # mount/umount (test_fuse), run_action (test_actions), mails (test_watch),
    # run_zombie_action (test_panels).
    called = {"connect", "resolve", "incident", "timeline", "parse_log", "explore", "watch",
              "load_ipython_extension", "parse_address", "format_address", "check_action",
              "available_actions", "actions_for", "fuse_available", "mounts", "is_mounted",
              "jupyterfs_config", "free_port", "triggers", "neighbourhood", "log_page",
              "table_page", "preview", "action_log", "history", "forecast", "replay",
              "compare_cycles"}
    acting = {"mount", "umount", "run_action", "send_event", "event_message", "check_smtp",
              "run_zombie_action"}
    assert functions == called | acting
