"""openlpm: Live Partition Mobility for Linux."""

from __future__ import annotations

from functools import cache


def __getattr__(name: str) -> str:
    # The version is read on first use (PEP 562), not at import: tomllib and
    # importlib.metadata cost ~40 ms that every command would pay before its first request.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _version() -> str:
    """The version of the code running: in a checkout, its pyproject's (an editable
    install's metadata keeps the version it was installed with); elsewhere, the
    installed distribution's."""
    import tomllib
    from importlib import metadata
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
        if project.get("name") == "openlpm":
            return str(project["version"])
    return metadata.version("openlpm")
