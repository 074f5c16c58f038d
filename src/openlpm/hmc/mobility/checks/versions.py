"""Which openlpm releases may migrate a partition between them: the pairing table.

Like the HMC's firmware matrix, pairs are listed by release series (major.minor) of the
source and target agents; a mover must be of its own system's series. A series always
pairs with itself; a new series adds its rows here, with the series it can exchange a
migration stream with in each direction.
"""

from __future__ import annotations

from openlpm.versions import series

# 0.1 -> 0.2 is the rolling upgrade's move: off a system still on 0.1, onto one on 0.2.
SUPPORTED_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("0.1", "0.1"),
    ("0.1", "0.2"),
    ("0.2", "0.2"),
})

__all__ = ["SUPPORTED_PAIRS", "series", "supported", "targets_of"]


def supported(source_version: str, target_version: str) -> bool:
    return (series(source_version), series(target_version)) in SUPPORTED_PAIRS


def targets_of(source_version: str) -> list[str]:
    return sorted(t for s, t in SUPPORTED_PAIRS if s == series(source_version))
