"""The per-boot cache of the accelerator verdict, with a stand-in probe and no QEMU."""

from __future__ import annotations

import json
from pathlib import Path

from openlpm.lab.accel import cached_verdict, read_cache


class CountingProbe:
    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return self.verdict


async def test_first_call_probes_and_caches(tmp_path: Path) -> None:
    cache = tmp_path / "run" / "accel.json"
    probe = CountingProbe("tcg")
    assert await cached_verdict(cache, "boot-a", probe) == "tcg"
    assert probe.calls == 1
    assert json.loads(cache.read_text()) == {"boot_id": "boot-a", "accel": "tcg"}


async def test_verdict_of_same_boot_is_reused(tmp_path: Path) -> None:
    cache = tmp_path / "accel.json"
    cache.write_text(json.dumps({"boot_id": "boot-a", "accel": "kvm"}))
    probe = CountingProbe("tcg")
    assert await cached_verdict(cache, "boot-a", probe) == "kvm"
    assert probe.calls == 0


async def test_other_boot_id_triggers_probe(tmp_path: Path) -> None:
    cache = tmp_path / "accel.json"
    cache.write_text(json.dumps({"boot_id": "boot-a", "accel": "kvm"}))
    probe = CountingProbe("tcg")
    assert await cached_verdict(cache, "boot-b", probe) == "tcg"
    assert probe.calls == 1
    assert read_cache(cache, "boot-b") == "tcg"
    assert read_cache(cache, "boot-a") is None


async def test_unreadable_cache_means_probe(tmp_path: Path) -> None:
    cache = tmp_path / "accel.json"
    cache.write_text("{not json")
    probe = CountingProbe("kvm")
    assert await cached_verdict(cache, "boot-a", probe) == "kvm"
    assert probe.calls == 1


async def test_unwritable_cache_still_returns_verdict(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    probe = CountingProbe("tcg")
    assert await cached_verdict(blocker / "accel.json", "boot-a", probe) == "tcg"
