"""Where the commands find the console, and how they trust its certificate: the same for
the httpx client (``console.py``) and the listing commands' stdlib one
(``console_reader.py``), so this module needs only the standard library."""

from __future__ import annotations

import os
import ssl

from openlpm.errors import RequestInvalid
from openlpm.paths import last_lab

DEFAULT_URL = "http://127.0.0.1:8480"
# The words of a command the SSH door runs, as JSON: in the child's environment, which
# only its owner may read, not in its argv, which every user of the host may read in
# /proc (a --passwd value among them).
DOOR_ARGV = "OPENLPM_ARGV"
# What to do when the console's certificate is not trusted (HSCLF528).
TRUST_HINT = ("Pin the console's certificate: OPENLPM_HMC_CA=PATH to the console.crt of "
              "its 'hmc serve --tls-dir'.")


def hmc_url() -> str:
    """``$OPENLPM_HMC``, else the console of the lab started last, else the default."""
    return os.environ.get("OPENLPM_HMC") or str(last_lab().get("url") or DEFAULT_URL)


def hmc_trust(url: str) -> ssl.SSLContext | None:
    """How an https console is trusted: its certificate pinned by ``$OPENLPM_HMC_CA``
    (or by the lab started last, for its console), else the system's authorities."""
    lab = last_lab()
    pinned = os.environ.get("OPENLPM_HMC_CA") or (lab.get("ca") if lab.get("url") == url
                                                  else None)
    if not pinned:
        return None
    try:
        return ssl.create_default_context(cafile=pinned)
    except (OSError, ssl.SSLError) as exc:
        raise RequestInvalid(f"The console's certificate {pinned} (OPENLPM_HMC_CA) cannot "
                             f"be read: {exc}.", code="HSCLF529") from None


def system_trust() -> ssl.SSLContext:
    """The authorities an https console is trusted by when nothing pins its certificate:
    httpx's own choice for ``verify=True`` (``$SSL_CERT_FILE``, else ``$SSL_CERT_DIR``,
    else certifi's bundle), so that every command trusts the same ones."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=capath)
    import certifi  # 5 ms (importlib.resources) that a pinned console does without

    return ssl.create_default_context(cafile=certifi.where())
