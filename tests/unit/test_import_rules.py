"""Who may import whom: the layers of docs/architecture.md, kept by walking the imports.

A service (agent, mover, SAN, console) reaches another only through ``clients/`` over
HTTP, never through its internals, so each can run on a host of its own; the commands
and the lab see the services only as clients too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "openlpm"
# Modules every layer may use: the domain and wire types, the error tree, and the small
# helpers that belong to no part (keys and certificates, files, processes, serving).
SHARED = {"model", "errors", "authority", "trust", "private", "processes", "paths",
          "service", "config", "versions", "states", "__init__"}
SERVICES = {"agent", "mover", "san", "hmc"}
# What each layer may import besides itself and SHARED.
ALLOWED: dict[str, set[str]] = {
    "shared": set(),
    "clients": set(),
    "net": set(),
    "agent": {"clients", "net"},
    "mover": {"clients"},
    "san": {"clients"},
    "hmc": {"clients"},
    "cli": {"clients", "lab", "install"},
    "lab": {"clients", "net", "guest"},
    # The guest side's files (shell and systemd units, run in a partition), for images.
    "guest": set(),
    # Installing the services: their systemd units and Debian packages.
    "install": set(),
    "__main__": {"cli"},
}


def layer(module: str) -> str:
    top = module.split(".")[1] if "." in module else module
    return "shared" if top in SHARED else top


def imports() -> list[tuple[str, str]]:
    """(importer, imported) for every import of an openlpm module in the source."""
    found = []
    for path in SOURCE.rglob("*.py"):
        module = ".".join(("openlpm", *path.relative_to(SOURCE).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] if node.module != "openlpm" else \
                    [_from_package(alias.name) for alias in node.names]
                found += [(module, name) for name in names if name.startswith("openlpm")]
            elif isinstance(node, ast.Import):
                found += [(module, a.name) for a in node.names if a.name.startswith("openlpm")]
    return found


def _from_package(name: str) -> str:
    """``from openlpm import NAME``: a module of the package, or a name of its __init__."""
    is_module = (SOURCE / name).is_dir() or (SOURCE / f"{name}.py").exists()
    return f"openlpm.{name}" if is_module else "openlpm.__init__"


def test_every_layer_imports_only_what_its_rule_allows() -> None:
    broken = [f"{importer} imports {imported}" for importer, imported in imports()
              if layer(imported) != layer(importer)
              and layer(imported) != "shared"
              and layer(imported) not in ALLOWED[layer(importer)]]
    assert broken == []


@pytest.mark.parametrize("shared", sorted(SHARED - {"__init__"}))
def test_the_shared_modules_import_no_part(shared: str) -> None:
    parts = {imported for importer, imported in imports()
             if importer == f"openlpm.{shared}" and layer(imported) != "shared"}
    assert parts == set()


def test_the_rule_sees_every_layer_of_the_source() -> None:
    layers = {layer(importer) for importer, _ in imports()}
    assert layers <= set(ALLOWED)
    assert layers >= SERVICES
