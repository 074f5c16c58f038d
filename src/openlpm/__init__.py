"""openlpm: Live Partition Mobility for Linux."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path


def _version() -> str:
    """The version of the code running: in a checkout, its pyproject's (an editable
    install's metadata keeps the version it was installed with); elsewhere, the
    installed distribution's."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
        if project.get("name") == "openlpm":
            return str(project["version"])
    return metadata.version("openlpm")


__version__ = _version()
