"""``openlpm san mklun --size`` takes sizes as qemu-img does, in whole MB, up to the
largest LUN."""

from __future__ import annotations

import pytest

from openlpm.cli.main import parser
from openlpm.cli.sizes import MAX_MB
from openlpm.model import LunCreate
from openlpm.san.luns import MAX_LUN_MB


def mklun(*argv: str) -> int:
    return int(parser().parse_args(["san", "mklun", "-l", "l1", *argv]).size_mb)


def test_mklun_takes_sizes_as_qemu_img_does() -> None:
    assert [mklun("--size", s) for s in ("20G", "512M", "512m", "1.5G", "1T")] == \
        [20480, 512, 512, 1536, 1 << 20]
    assert (mklun("--size-mb", "8"), mklun("--source", "root.img")) == (8, 0)


@pytest.mark.parametrize("argv", [["--size", "100"], ["--size", "20X"], ["--size", "2T"],
                                  ["--size-mb", "-1"], ["--size", "1G", "--size-mb", "8"]])
def test_mklun_refuses_sizes_that_are_not_whole_mb_or_too_large(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        mklun(*argv)


def test_the_largest_lun_is_the_same_everywhere() -> None:
    largest = next(m.le for m in LunCreate.model_fields["size_mb"].metadata
                   if hasattr(m, "le"))
    assert MAX_MB == MAX_LUN_MB == largest
