"""The watch panel in a real browser: a cell run once, then aborts arrive by themselves.

A notebook with ``panel = ecfnb.watch("localhost:PORT", interval=1); panel`` runs in
JupyterLab in chromium; with no cell re-run, a task forced aborted must appear in the
panel with the alert banner, its output (which holds an ``<img onerror>``) shown as
text and never run as markup; shutting the kernel down must end the polling process.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from ecfnb import Server

from browser import (
    chromium_page,
    require_chromium,
    run_all,
    running_lab,
    screenshot,
    shut_kernels_down,
)
from conftest import wait_for

XSS = '<img src=x onerror="window.__xss=1">'
STORE = "/demo/archive/store"

#: Without it, JupyterLab 4.6 asks "Select Kernel" for a notebook it has not run before.
START_KERNEL = {"@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True}}


def pollers(port: int) -> list[str]:
    """Command lines of the polling processes watching ``port``."""
    found = subprocess.run(["pgrep", "-af", f"ecfnb._watch.poller localhost:{port}"],
                           capture_output=True, text=True).stdout
    return found.splitlines()


def notebook(port: int) -> dict:
    source = f'import ecfnb\npanel = ecfnb.watch("localhost:{port}", interval=1)\npanel'
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "watch",
                       "metadata": {}, "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def lab(fresh_demo, tmp_path):
    (tmp_path / "watch.ipynb").write_text(json.dumps(notebook(fresh_demo.port)))
    with running_lab(tmp_path, user_settings=START_KERNEL) as lab:
        yield lab


def test_abort_appears_live_and_output_is_text(lab, fresh_demo):
    require_chromium()
    server = Server(fresh_demo.host, fresh_demo.port)
    server.sync()
    jobout = Path(server.variable(STORE, "ECF_JOBOUT"))
    with chromium_page() as page:
        try:
            page.goto(f"{lab.url}/lab/tree/watch.ipynb?reset")
            page.locator(".jp-Notebook .jp-Cell >> visible=true").first.wait_for(
                timeout=60_000)
            run_all(page)
            status = page.locator(".ecfnb-watch .ecfnb-watch-status")
            status.filter(has_text="connected").wait_for(timeout=60_000)
            assert page.locator(".ecfnb-watch-alert").is_hidden()
            assert len(pollers(fresh_demo.port)) == 1  # the kernel's watcher

            jobout.parent.mkdir(parents=True, exist_ok=True)
            jobout.write_text(f"archiving\n{XSS}\nERROR: tape not mounted\n")
            forced = time.monotonic()
            fresh_demo.client("--force=aborted", STORE)  # no cell is run from here on
            row = page.locator(".ecfnb-watch-event", has_text=STORE)
            row.wait_for(timeout=10_000)
            alert = page.locator(".ecfnb-watch-alert")
            alert.filter(has_text=f"New abort: {STORE}").wait_for(timeout=5_000)
            seen_after = time.monotonic() - forced
            assert seen_after < 10, seen_after

            row.locator("summary").click()
            output = row.locator("pre")
            output.get_by_text(XSS, exact=True).wait_for(timeout=5_000)  # as text
            assert page.locator(".ecfnb-watch img").count() == 0
            assert page.evaluate("window.__xss") is None
            assert "1 abort" in status.inner_text()
            screenshot(page, "watch")
            page.locator(".ecfnb-watch-dismiss").click()
            alert.wait_for(state="hidden", timeout=5_000)
        except BaseException:
            screenshot(page, "watch-failed")
            raise
    shut_kernels_down(lab)
    wait_for(lambda: pollers(fresh_demo.port) == [], timeout=10,
             what="the watcher's polling process to end with the kernel")
