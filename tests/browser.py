"""Real-browser test helpers: JupyterLab on a free loopback port, Debian's chromium.

Recipes from ../shared/BROWSER_TESTING.md: never ``playwright install`` (no downloads
here), playwright drives ``/usr/bin/chromium``; JupyterLab runs from this
interpreter with no token, in its own config directory (no user workspaces or
settings leak in) and its own session, and is stopped by its pid: SIGTERM (it shuts
down its kernels), then SIGKILL of its process group if it lingers.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Lab user settings every test lab gets: no news or update toast over the screenshots.
QUIET_SETTINGS = {"@jupyterlab/apputils-extension/notification":
                  {"fetchNews": "false", "checkForUpdates": False}}


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: ``url`` is its base URL, ``log`` its stdout+stderr."""

    process: subprocess.Popen
    port: int
    root_dir: Path
    config_dir: Path

    @property
    def log(self) -> Path:
        return self.config_dir / "lab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def get_json(self, path: str, timeout: float = 10) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as reply:
            return json.load(reply)

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10
            ) -> tuple[int, Any]:
        """(status, JSON reply) of a REST call; writes send the ``_xsrf`` cookie back as
        ``X-XSRFToken``, as the server requires even without a token."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.url + "/lab", timeout=timeout).read()
        xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"X-XSRFToken": xsrf,
                                                  "Content-Type": "application/json"})
        try:
            with opener.open(request, timeout=timeout) as reply:
                status, text = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        return status, json.loads(text) if text else None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def start_lab(root_dir: str | os.PathLike, server_config: dict | None = None,
              user_settings: dict[str, dict] | None = None, timeout: float = 60,
              extra_args: tuple[str, ...] = ()) -> Lab:
    """JupyterLab serving ``root_dir``. ``server_config`` is written as the
    ``jupyter_server_config.json`` of a fresh config directory, ``user_settings``
    ({'@scope/ext/plugin': {...}}) as its Lab user settings, over QUIET_SETTINGS.
    Returns once ``/api/status`` answers."""
    root = Path(root_dir)
    config_dir = Path(tempfile.mkdtemp(prefix="ecfnb-lab-config-"))
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config or {}))
    for plugin, values in {**QUIET_SETTINGS, **(user_settings or {})}.items():
        settings = config_dir / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    port = free_loopback_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir),
               JUPYTERLAB_SETTINGS_DIR=str(config_dir / "lab" / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(config_dir / "lab" / "workspaces"))
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ip", "127.0.0.1", "--port", str(port), "--ServerApp.port_retries=0",
               "--ServerApp.token=", "--ServerApp.password=",
               f"--ServerApp.root_dir={root}", *extra_args]
    with open(config_dir / "lab.log", "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(process, port, root, config_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = lab.log_tail()
            stop_lab(lab)
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{tail}")
        with contextlib.suppress(OSError, ValueError):
            lab.get_json("/api/status", timeout=2)
            return lab
        time.sleep(0.2)
    stop_lab(lab)
    raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{lab.log_tail()}")


@contextlib.contextmanager
def own_user_lab(root_dir: str | os.PathLike) -> Iterator[Lab]:
    """A JupyterLab on ``root_dir`` that runs notebooks as the test's own user (no
    ECF_USER or ECF_CUSTOM_PASSWD leaking in), stopped afterwards: a module's lab."""
    require_chromium()
    with pytest.MonkeyPatch.context() as patch:
        for name in ("ECF_USER", "ECF_CUSTOM_PASSWD"):
            patch.delenv(name, raising=False)
        lab = start_lab(root_dir, user_settings=NOTEBOOK_SETTINGS)
    try:
        yield lab
    finally:
        stop_lab(lab)


def stop_lab(lab: Lab, timeout: float = 15) -> None:
    """SIGTERM by pid, then SIGKILL of its own process group if still there."""
    if lab.process.poll() is None:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(lab.pid, signal.SIGKILL)  # its session: nothing it started survives
    lab.process.wait(5)
    shutil.rmtree(lab.config_dir, ignore_errors=True)


@contextlib.contextmanager
def running_lab(root_dir: str | os.PathLike, server_config: dict | None = None,
                **kwargs: Any) -> Iterator[Lab]:
    lab = start_lab(root_dir, server_config, **kwargs)
    try:
        yield lab
    finally:
        stop_lab(lab)


def require_chromium() -> None:
    """Skip (with the reason printed) only when Debian's chromium is really absent."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = (f"{CHROMIUM} is missing: install Debian's chromium "
                  "('make setup' or 'sudo apt-get install chromium')")
        print(reason)
        pytest.skip(reason)


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000, permissions: Sequence[str] = (),
                  origin: str | None = None, init_script: str | None = None
                  ) -> Iterator[Any]:
    """A playwright page in headless Debian chromium; browser closed on exit.

    ``permissions`` (e.g. ``["notifications"]``) are granted to ``origin`` (a lab's
    URL); ``init_script`` runs in every page before its own scripts (to record calls
    to a browser API). Without them: a plain context, as before."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            if permissions:
                context.grant_permissions(list(permissions), origin=origin)
            if init_script is not None:
                context.add_init_script(init_script)
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-window screenshot as tests/artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def prompts(page) -> list[str]:
    return [p.strip() for p in
            page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()]


def run_all(page, timeout: float = 120, again: bool = False) -> list[str]:
    """Run > Run All until every code cell has run (``[n]:``), none raising; returns the
    prompts. Run All is clicked again when, for 3 s, no cell runs and some have not
    run. Seen here: a Run All soon after the notebook opens is often lost (4 times in
    6 no cell ran); once the first cell ran and the later ones stayed ``[ ]``; and the
    first prompt is empty for a moment before it shows ``[ ]:``."""
    deadline = time.monotonic() + timeout
    clicks, last, since = 0, None, time.monotonic() - 3
    errors = page.locator(".jp-OutputArea-output", has_text="Traceback")
    before = prompts(page) if again else None  # ``again``: a notebook that ran already
    while time.monotonic() < deadline:
        assert errors.count() == 0, errors.all_inner_texts()  # Run All stops at an error
        now = prompts(page)
        if now and all(re.fullmatch(r"\[\d+\]:", p) for p in now) and \
                (before is None or (clicks and not set(now) & set(before))):
            break
        if now != last:
            last, since = now, time.monotonic()
        idle = "[*]:" not in now and time.monotonic() - since >= 3
        if idle or (clicks == 0 and now):
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
            clicks, since = clicks + 1, time.monotonic()
        time.sleep(0.1)
    else:
        raise AssertionError(f"Run All ({clicks} clicks) did not run every cell within "
                             f"{timeout} s: prompts {prompts(page)}")
    if clicks > 1:
        print(f"Run All clicked {clicks} times")
    assert errors.count() == 0, errors.all_inner_texts()
    return now


def shut_kernels_down(lab) -> None:
    for session in lab.get_json("/api/sessions"):
        status, reply = lab.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        assert status == 204, reply
    for kernel in lab.get_json("/api/kernels"):
        status, reply = lab.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)
        assert status == 204, reply


#: autoStartDefaultKernel: without it, JupyterLab 4.6 asks "Select Kernel" for a notebook
#: it has not run before. windowingMode none: with the default (contentVisibility), the
#: explorer's output is not "visible" to playwright once Run All has scrolled the
#: notebook to its last cell (seen: a 90 s wait for the tree in a notebook that had run).
NOTEBOOK_SETTINGS = {"@jupyterlab/notebook-extension/tracker": {
    "autoStartDefaultKernel": True, "windowingMode": "none"}}


# -- notebooks with explorers (the recipes of test_browser_explorer.py, shared) -------------
def pollers(ports: Sequence[int]) -> list[str]:
    """The explorer's and watcher's polling processes of servers on ``ports``."""
    found = subprocess.run(["pgrep", "-af", r"ecfnb\.(widgets|_watch)\.poller"],
                           capture_output=True, text=True).stdout
    return [line for line in found.splitlines()
            if any(re.search(rf"poller localhost:{port}\b", line) for port in ports)]


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """Every process now: pid -> (parent pid, state letter, command line)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        table[int(entry.name)] = (int(ppid), state, cmdline)
    return table


def kernel_processes(lab: Lab) -> dict[int, bool]:
    """The lab's kernels and every process they started, pid -> whether it is a copy
    of its parent forked without exec (the explorer's forked poller: its command line
    is its kernel's, so ``pollers`` cannot see it)."""
    table = _processes()
    found: dict[int, bool] = {}
    todo = [pid for pid, (ppid, _state, cmdline) in table.items()
            if ppid == lab.process.pid and b"ipykernel" in cmdline]
    for pid in todo:
        found[pid] = False
    while todo:
        parent = todo.pop()
        for pid, (ppid, _state, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmdline == table[parent][2]
                todo.append(pid)
    return found


def wait_for_processes_gone(pids: Sequence[int], timeout: float = 15) -> None:
    """Until none of ``pids`` runs (a zombie nobody reaps counts as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        table = _processes()
        left = [pid for pid in pids if pid in table and table[pid][1] != "Z"]
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes the kernels started did not end with them: "
                                 f"{[(pid, table[pid][2][:80]) for pid in left]}")
        time.sleep(0.2)


def watch_console(page) -> None:
    """Browser errors go to the test's output (shown when it fails)."""
    page.on("console", lambda m: print(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: print(f"page error: {e}"))


@contextlib.contextmanager
def kernels_page(lab: Lab, ports: Sequence[int]) -> Iterator[Any]:
    """A browser page (its console in the test's output); after the test the lab's
    kernels are shut down and their pollers of ``ports`` gone, before the servers
    stop (the server fixtures are set up before the page's)."""
    try:
        with chromium_page() as page:
            watch_console(page)
            yield page
    finally:
        started = kernel_processes(lab)
        shut_kernels_down(lab)
        wait_for_pollers_gone(ports)
        wait_for_processes_gone(list(started))


def wait_for_pollers_gone(ports: Sequence[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while pollers(ports):
        if time.monotonic() > deadline:
            raise AssertionError(f"the polling processes of ports {list(ports)} did not "
                                 f"end with the kernel: {pollers(ports)}")
        time.sleep(0.2)


def write_notebook(lab: Lab, name: str, *sources: str) -> None:
    """A notebook of code cells ``sources`` in the lab's root."""
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {},
              "outputs": [], "source": source} for i, source in enumerate(sources)]
    (lab.root_dir / name).write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}}}))


def open_and_run(page, lab: Lab, name: str, widget: str = ".ecfnb-explorer") -> list[str]:
    """Open notebook ``name``, Run All until every cell ran; the first ``widget`` is
    scrolled into view. Returns the prompts."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.locator(".jp-Notebook .jp-Cell >> visible=true").first.wait_for(timeout=60_000)
    ran = run_all(page)
    try:
        page.locator(widget).first.wait_for(timeout=30_000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError
        # Seen once, on Debian 13 after a Run All clicked twice: every cell
        # had run, the widget's output never appeared. Run it all once more, say so.
        screenshot(page, "widget-missing-after-run-all")
        print(f"{widget} missing after Run All: running the notebook again")
        ran = run_all(page, again=True)
    page.locator(widget).first.scroll_into_view_if_needed()
    return ran


def click_tab(scope, title: str) -> None:
    """Click the node panel's tab ``title`` and wait until it is the current one."""
    tab = scope.locator(".ecfnb-panel-tabs button", has_text=title)
    tab.click()
    scope.locator(".ecfnb-panel-tabs button.mod-active",
                  has_text=title).wait_for(timeout=10_000)


def node_span(scope, path: str):
    return scope.locator(f'.ecfnb-tree span.ecfnb-node[data-ecf-path="{path}"]')


def anchor(scope, path: str):
    """The tree row (anchor) of ``path``: its name, flags and marks."""
    return scope.locator(f'.ecfnb-tree span.ecfnb-tree-anchor:has(span[data-ecf-path="{path}"])')


def expander(scope, path: str):
    """The open/close triangle of ``path``'s row."""
    return anchor(scope, path).locator("xpath=../span[contains(@class,'ecfnb-tree-toggle')]")


def root_anchor(scope):
    """The server's own row: its label is ``<b data-ecf-path="/">address</b>``."""
    return scope.locator('.ecfnb-tree span.ecfnb-tree-anchor:has(b[data-ecf-path="/"])')


def text_lines(locator) -> list[str]:
    """The lines a ``<pre>`` shows (its innerText: what the user reads)."""
    return locator.inner_text().rstrip("\n").split("\n")
