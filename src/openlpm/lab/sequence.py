"""Reading back the sequence a partition's workload keeps on a LUN (``openlpm.seq``).

Record N is at sector N: ``seq N BOOT SUM``, SUM the first 8 hex digits of the MD5 of
``seq N BOOT`` and a newline. Read from the LUN's image file on the SAN host.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512


class CorruptRecord(AssertionError):
    """A record whose checksum does not match: data the disk returned is not what was
    written."""


@dataclass(frozen=True)
class Record:
    number: int
    boot: str


def read_sequence(image: Path) -> list[Record]:
    """The records from the first up to the first missing one.

    Raises CorruptRecord for a record with a wrong checksum.
    """
    records: list[Record] = []
    with image.open("rb") as disk:
        while sector := disk.read(SECTOR):
            words = sector.split(b"\n")[0].split()
            number = len(records)
            if len(words) != 4 or words[0] != b"seq" or words[1] != str(number).encode():
                break
            digest = hashlib.md5(b" ".join(words[:3]) + b"\n").hexdigest()[:8]
            if digest.encode() != words[3]:
                raise CorruptRecord(f"record {number} of {image} is corrupt: {words!r}")
            records.append(Record(number, words[2].decode()))
    return records
