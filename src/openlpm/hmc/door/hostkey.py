"""The door's host key: ed25519, made once and kept, only its owner may read it.

A client pins the key the first time it connects (``known_hosts``), so it must not
change across restarts, upgrades or a lab's ``restart``: it is made when the file is
missing and read from then on.
"""

from __future__ import annotations

from pathlib import Path

import asyncssh

from openlpm.errors import RequestInvalid
from openlpm.private import write_private

HOST_KEY_NAME = "ssh_host_ed25519_key"


def default_path(db: Path) -> Path:
    """Where the host key is kept unless ``--ssh-host-key`` says: next to the database."""
    return db.parent / HOST_KEY_NAME


def host_key(path: Path) -> asyncssh.SSHKey:
    """The key at ``path``, made (ed25519, 0600) if there is none; its public half is
    written beside it (``.pub``), as sshd's are.

    Raises RequestInvalid (HSCLF824) when the file is there but is no private key.
    """
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"openlpm@{path.name}")
        write_private(path, key.export_private_key())
        write_private(path.with_name(path.name + ".pub"), key.export_public_key())
        return key
    path.chmod(0o600)
    try:
        return asyncssh.read_private_key(path)
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        raise RequestInvalid(f"The SSH host key {path} cannot be read ({exc}); move it "
                             f"away to have a new one made.", code="HSCLF824") from None


def fingerprint(key: asyncssh.SSHKey) -> str:
    """The key's SHA256 fingerprint, as ``ssh-keygen -lf`` prints it."""
    return key.get_fingerprint("sha256")
