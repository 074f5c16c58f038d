"""The README's first command: the demo runs to its three proofs and leaves nothing."""

from __future__ import annotations

import subprocess

from pyroute2 import netns

from tests.integration.conftest import BIN


def test_the_demo_proves_the_partition_kept_running_and_cleans_up() -> None:
    done = subprocess.run([str(BIN / "openlpm"), "demo", "--fill-mb", "64"],
                          capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout.replace("\n", " ")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert out.count("PROOF:") == 3 and "FAILED" not in out
    assert "Migration Complete" in out
    assert not [name for name in netns.listnetns() if name.startswith("demo-")]
