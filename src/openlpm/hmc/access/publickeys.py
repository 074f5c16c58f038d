"""The SSH public keys a console user may sign in with (``mkauthkeys -a``), read once.

A line is taken only in OpenSSH's plain form, ``TYPE BASE64 [COMMENT]``: no
authorized_keys options (``command=``, ``from=``, ``no-pty``...), which would make the
door's behaviour depend on a text the user wrote; no certificates or security-key types;
RSA keys of 2048 bits or more. The key is read by asyncssh, the library that serves the
SSH door, so a key the console keeps is one the door can check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncssh

from openlpm.errors import RequestInvalid
from openlpm.model import AUTHORIZED_KEY_MAX

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "ssh-rsa")
RSA_MIN_BITS = 2048
COMMENT_MAX = 256
# A control character, DEL included: none may be in a line (a newline would start a
# second key in an authorized_keys file, an escape sequence would reach a terminal).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class PublicKey:
    type: str
    base64: str
    comment: str
    fingerprint: str

    @property
    def line(self) -> str:
        return f"{self.type} {self.base64} {self.comment}".rstrip()


def _refused(why: str, fix: str) -> RequestInvalid:
    return RequestInvalid(f"The key was not added: {why}. {fix}", code="HSCLF542")


def _weak(why: str) -> RequestInvalid:
    return RequestInvalid(f"The key was not added: {why}. Use an ed25519 key "
                          f"(ssh-keygen -t ed25519), an ECDSA key or an RSA key of "
                          f"{RSA_MIN_BITS} bits or more.", code="HSCLF543")


def parse(line: str) -> PublicKey:
    """The key of an OpenSSH public key line, its comment made one printable line.

    Raises RequestInvalid: HSCLF542 for a line that is not a plain public key line (too
    long, options before the type, a control character, a key that cannot be read),
    HSCLF543 for a type the console does not take or an RSA key under 2048 bits.
    """
    if len(line.encode("utf-8", "replace")) > AUTHORIZED_KEY_MAX:
        raise _refused(f"the line is over {AUTHORIZED_KEY_MAX} bytes",
                       "Give the one line of the .pub file")
    text = line.strip(" \t\r\n")
    if CONTROL.search(text.replace("\t", " ")):
        raise _refused("the line holds a control character (a line break within it, for "
                       "instance)", "Give one key, the one line of the .pub file")
    fields = text.split(None, 2)
    if len(fields) < 2:
        raise _refused("a public key line is 'TYPE BASE64 [COMMENT]'",
                       "Give the line of the .pub file (ssh-keygen makes it)")
    kind, data = fields[0], fields[1]
    if kind not in KEY_TYPES:
        if "=" in kind or "," in kind or any(t in KEY_TYPES for t in text.split()[1:]):
            raise _refused("authorized_keys options (command=, from=, no-pty...) are not "
                           "taken", "Give the key line alone, beginning with its type")
        raise _weak(f"its type {kind[:40]!r} is not one this console takes "
                    f"({', '.join(KEY_TYPES)})")
    return _read(kind, data, fields[2] if len(fields) > 2 else "")


def _read(kind: str, data: str, comment: str) -> PublicKey:
    try:
        key = asyncssh.import_public_key(f"{kind} {data}")
    except (asyncssh.KeyImportError, ValueError):
        raise _refused("the key cannot be read (its base64 part is damaged or of another "
                       "type)", "Copy the line of the .pub file again") from None
    if key.algorithm.decode() != kind:
        raise _refused(f"its key is of type {key.algorithm.decode()}, not {kind}",
                       "Copy the line of the .pub file again")
    bits = getattr(getattr(key, "pyca_key", None), "key_size", None)
    if kind == "ssh-rsa" and (bits is None or bits < RSA_MIN_BITS):
        raise _weak(f"its RSA key has {bits} bits, fewer than {RSA_MIN_BITS}")
    clean = " ".join(comment.split())[:COMMENT_MAX]
    # As the key writes itself: the same key given with other padding is the same line.
    canonical = key.export_public_key("openssh").decode().split()[1]
    return PublicKey(type=kind, base64=canonical, comment=clean,
                     fingerprint=key.get_fingerprint("sha256"))
