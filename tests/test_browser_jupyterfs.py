"""The ecFlow server in JupyterLab's sidebar through jupyter-fs, in a real browser.

JupyterLab runs with jupyter-fs and one resource ``ecflow://localhost:PORT/`` (the
fsspec view, ecfnb/fsspec.py) against the demo server; chromium browses it as a user
would: sidebar panel, double-click demo/ then forecast/, open post.out in an editor.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecfnb import jupyterfs_config

from browser import chromium_page, require_chromium, running_lab, screenshot

POST = "/demo/forecast/post"


@pytest.fixture(scope="module")
def lab(demo, tmp_path_factory):
    config = jupyterfs_config({"demo server": demo.address})
    with running_lab(tmp_path_factory.mktemp("lab-root"), config) as lab:
        yield lab


@pytest.fixture(scope="module")
def resource(lab, demo) -> dict:
    resources = lab.get_json("/jupyterfs/resources")
    found = [r for r in resources if r["url"] == f"ecflow://localhost:{demo.port}/"]
    assert len(found) == 1, resources
    return found[0]


@pytest.fixture
def job_output(server) -> bytes:
    return Path(server.node(POST).variable("ECF_JOBOUT")).read_bytes()


def test_resource_is_initialised(resource):
    assert resource["init"] is True, resource
    assert resource["errors"] == []


def test_contents_api_reads_and_refuses_writes(lab, resource, job_output):
    drive = resource["drive"]
    status, listing = lab.api("GET", f"/api/contents/{drive}:demo/forecast")
    assert status == 200, listing
    names = {entry["name"]: entry for entry in listing["content"]}
    assert {"post.out", "post.abo", "model.att"} <= set(names)
    assert names["post.out"]["size"] == len(job_output)
    status, model = lab.api("GET", f"/api/contents/{drive}:demo/forecast/post.out")
    assert status == 200 and model["content"].encode() == job_output
    status, reply = lab.api("PUT", f"/api/contents/{drive}:demo/forecast/post.out",
                            {"type": "file", "format": "text", "content": "edited"})
    assert status >= 400 and "read-only" in reply["message"], reply


def test_sidebar_browses_to_the_job_output(lab, resource, job_output):
    require_chromium()
    error_line = next(line for line in job_output.decode().splitlines()
                      if "ERROR: input file" in line)
    assert len(job_output) < 1024  # shown as 'N B' in the size column
    with chromium_page() as page:
        try:
            page.goto(f"{lab.url}/lab?reset")
            tab = page.locator(f'li.lm-TabBar-tab[title="{resource["name"]}"]')
            tab.wait_for(timeout=60_000)
            tab.click()
            panel = page.locator(".jp-tree-finder-sidebar:visible")
            panel.get_by_text("demo/", exact=True).dblclick(timeout=20_000)
            panel.get_by_text("forecast/", exact=True).dblclick(timeout=20_000)
            crumbs = panel.locator("tree-finder-breadcrumbs")
            crumbs.filter(has_text="/demo/forecast").wait_for(timeout=20_000)
            out = panel.locator("tr", has=page.get_by_text("post.out", exact=True))
            assert f"{len(job_output)} B" in out.inner_text(timeout=20_000)
            out.get_by_text("post.out", exact=True).dblclick()
            page.locator(".lm-TabBar-tab.jp-mod-current", has_text="post.out").wait_for(
                timeout=20_000)
            editor = page.locator(".jp-FileEditor:visible .cm-content")
            editor.get_by_text(error_line, exact=True).wait_for(timeout=20_000)
        finally:
            screenshot(page, "jupyterfs")
