"""Which openlpm releases may migrate a partition between them: the pairing table.

Like the HMC's firmware matrix, pairs are listed by release series (major.minor) of the
source and target agents; a mover must be of its own system's series. A series always
pairs with itself; a new series adds its rows here, with the series it can exchange a
migration stream with in each direction.
"""

from __future__ import annotations

SUPPORTED_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("0.1", "0.1"),
})


def series(version: str) -> str:
    """``0.1.3`` -> ``0.1``; a version that is not numbered is its own series."""
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(
        p.isdigit() for p in parts[:2]) else version


def supported(source_version: str, target_version: str) -> bool:
    return (series(source_version), series(target_version)) in SUPPORTED_PAIRS


def targets_of(source_version: str) -> list[str]:
    return sorted(t for s, t in SUPPORTED_PAIRS if s == series(source_version))
