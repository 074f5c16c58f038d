"""Where openlpm keeps runtime files on a host (``$OPENLPM_RUN``, default /run/openlpm)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUN_ROOT = Path(os.environ.get("OPENLPM_RUN", "/run/openlpm"))
# Written by ``lab up``: the console the command-line tools use when $OPENLPM_HMC is unset.
DEFAULT_HMC_FILE = RUN_ROOT / "hmc.json"


def last_lab() -> dict[str, Any]:
    """What ``lab up`` wrote of the lab started last (its console's ``url``, ``ca`` and
    ``credentials``), or nothing."""
    try:
        lab = json.loads(DEFAULT_HMC_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return lab if isinstance(lab, dict) else {}
