"""Sphinx configuration: the docs are Markdown, read by MyST.

The API reference is made from the app's own OpenAPI document at build time
(``linksvc.web.openapi.document``), so it cannot drift from the API.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

project = "linksvc"
author = "the linksvc developers"
extensions = ["myst_parser"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "screenshots/*.txt"]
html_theme = "alabaster"
html_title = "linksvc"
suppress_warnings = ["myst.header"]


def _api_reference() -> None:
    """docs/_generated/openapi.md: each operation, and the whole document."""
    from linksvc.web.openapi import document

    spec = document()
    rows = []
    for path, ops in sorted(spec["paths"].items()):
        for method, op in ops.items():
            if method.startswith("x-") or not isinstance(op, dict):
                continue
            summary = (op.get("summary") or op.get("description") or "").strip()
            summary = summary.splitlines()[0] if summary else ""
            rows.append(f"| `{method.upper()}` | `{path}` | {summary} |")
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    (out / "openapi.md").write_text(
        "| method | path | what it does |\n| --- | --- | --- |\n"
        + "\n".join(rows)
        + "\n\nThe whole document (also served at `/api/v1/openapi.json`):\n\n"
        + "```json\n"
        + json.dumps(spec, indent=2, sort_keys=True)
        + "\n```\n"
    )


_api_reference()
