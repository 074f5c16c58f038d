"""Where openlpm keeps runtime files on a host (``$OPENLPM_RUN``, default /run/openlpm)."""

from __future__ import annotations

import os
from pathlib import Path

RUN_ROOT = Path(os.environ.get("OPENLPM_RUN", "/run/openlpm"))
# Written by ``lab up``: the console the command-line tools use when $OPENLPM_HMC is unset.
DEFAULT_HMC_FILE = RUN_ROOT / "hmc.json"
