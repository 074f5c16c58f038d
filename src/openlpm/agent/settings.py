"""A managed system's own settings, kept across agent restarts: maintenance mode and the
defaults of the migrations that leave it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from openlpm.model import Convergence, Frozen
from openlpm.private import write_private


class SystemSettings(Frozen):
    # In maintenance a system takes no new partition and no incoming migration.
    maintenance: bool = False
    convergence: Convergence = Convergence.PRECOPY
    max_downtime_ms: int = Field(default=1000, ge=10, le=60000)
    # Streams between mover services are TLS unless both ends' systems turn it off.
    stream_encryption: bool = True


class SettingsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> SystemSettings:
        try:
            return SystemSettings.model_validate_json(self.path.read_bytes())
        except (OSError, ValidationError):
            return SystemSettings()

    def write(self, settings: SystemSettings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_private(self.path, settings.model_dump_json().encode())
