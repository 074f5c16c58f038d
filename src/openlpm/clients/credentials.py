"""Where the commands find their sign-in to a console: one token per console URL.

In this order: ``$OPENLPM_TOKEN``; the file ``$OPENLPM_CREDENTIALS``; the credentials
of the lab started last when its console is the one asked (``hmc.json`` names them);
``~/.config/openlpm/credentials.json``. Each file is JSON ``{url: token}``, mode 0600,
written by ``openlpm login``. A token never appears in a command line or an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from openlpm.paths import last_lab

USER_FILE = Path.home() / ".config" / "openlpm" / "credentials.json"


def credentials_file() -> Path:
    """The file ``openlpm login`` writes to."""
    return Path(os.environ.get("OPENLPM_CREDENTIALS") or USER_FILE)


def token_for(url: str, path: Path | None = None) -> str | None:
    """The token for the console at ``url``: from ``path`` alone when given."""
    if path is not None:
        return _read(path).get(url.rstrip("/"))
    if token := os.environ.get("OPENLPM_TOKEN"):
        return token
    for candidate in _files():
        token = _read(candidate).get(url.rstrip("/"))
        if token:
            return token
    return None


def save(url: str, token: str, path: Path | None = None) -> Path:
    # Imported by the writers only: private.py's tempfile costs the listing commands,
    # which only read a token, ~4 ms.
    from openlpm.private import write_private

    path = path or credentials_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokens = _read(path) | {url.rstrip("/"): token}
    write_private(path, json.dumps(tokens, indent=1).encode())
    return path


def forget(url: str) -> None:
    from openlpm.private import write_private  # as in save

    path = credentials_file()
    tokens = _read(path)
    if tokens.pop(url.rstrip("/"), None) is not None:
        write_private(path, json.dumps(tokens, indent=1).encode())


def _files() -> list[Path]:
    files = [Path(p)] if (p := os.environ.get("OPENLPM_CREDENTIALS")) else []
    lab = last_lab().get("credentials")
    return [*files, *([Path(lab)] if lab else []), USER_FILE]


def _read(path: Path) -> dict[str, str]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
