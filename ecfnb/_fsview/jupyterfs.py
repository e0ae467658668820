"""JupyterLab server configuration that shows ecFlow servers as jupyter-fs drives.

One function so that ``make demo`` and the browser test configure exactly the same
thing. jupyter-fs opens each resource URL with fsspec, i.e. ``EcflowFileSystem``.
"""

from __future__ import annotations

import json
from typing import Any


def jupyterfs_config(addresses: dict[str, str]) -> dict[str, Any]:
    """``{"drive name": "host:port"}`` -> the ``jupyter_server_config.json`` content."""
    # "undecodable": a job output that is not UTF-8 must open in the editor, as text
    # with replacement characters, not fail with "File Load Error".
    resources = [{"name": name, "url": f"ecflow://{address}/", "type": "fsspec",
                  "auth": "none", "defaultWritable": False,
                  "kwargs": json.dumps({"undecodable": "replace"})}
                 for name, address in addresses.items()]
    return {
        "ServerApp": {"contents_manager_class": "jupyterfs.metamanager.MetaManager",
                      "jpserver_extensions": {"jupyterfs.extension": True}},
        "JupyterFs": {"surface_init_errors": True, "resources": resources},
    }
