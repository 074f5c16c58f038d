"""Mover services: the pair that carries a stream, its encryption, and what they refuse.

A lab of its own: some tests restart sys2's mover with another certificate or behind a
relay that alters the stream.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openlpm.authority import CertificateAuthority
from openlpm.lab import site
from openlpm.mover.credentials import MoverCredentials
from tests.integration.conftest import Lab

SOURCE, TARGET = "sys1", "sys2"
PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem=256,max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1,kernel_args=openlpm.fill_mb=64")
REPO = Path(__file__).parents[2]


def start(lab: Lab, name: str, system: str = SOURCE) -> str:
    """Create and activate a partition; returns its boot id once it ticks."""
    lab.run("mksyscfg", "-r", "lpar", "-m", system, "-i", PROFILE.format(name=name))
    lab.run("chsysstate", "-r", "lpar", "-m", system, "-o", "on", "-n", name)
    return lab.wait_ticks(system, name, more_than=1)[-1][2]


def remove(lab: Lab, name: str, system: str) -> None:
    lab.run("chsysstate", "-r", "lpar", "-m", system, "-o", "shutdown", "--immed", "-n", name)
    lab.run("rmsyscfg", "-r", "lpar", "-m", system, "-n", name)


def kept_running(lab: Lab, name: str, system: str, boot: str) -> None:
    """The partition runs on ``system``, same boot, its counter without a gap."""
    ticks = lab.wait_ticks(system, name, more_than=len(lab.ticks(system, name)) + 2)
    lab.assert_kept_running(system, name, ticks, boot)


def carried(lab: Lab, name: str) -> tuple[dict[str, Any], str]:
    record = lab.api(f"/partitions/{name}/migration")
    lines = [e["detail"] for e in lab.api(f"/migrations/{record['id']}/journal")
             if e["phase"] == "carried"]
    return record, lines[0] if lines else ""


def set_encryption(lab: Lab, on: bool) -> None:
    for system in (SOURCE, TARGET):
        lab.run("migrlpar", "-o", "set", "-r", "sys", "-m", system, "-i",
                f"stream_encryption={int(on)}")


def findings(lab: Lab, name: str, **request: Any) -> list[dict[str, Any]]:
    report = lab.post("/validations", {"source": SOURCE, "target": TARGET,
                                       "partition": name, **request})
    return list(report["findings"])


@contextmanager
def target_mover_started_with(lab: Lab, *change: tuple[str, str]) -> Iterator[list[str]]:
    """Restart sys2's mover with some of its options changed, then as it was."""
    role = f"{TARGET}-mover"
    state = site.LabState.load(lab.state.prefix)
    original = list(state.commands[role])
    command = list(original)
    for option, value in change:
        if option in command:
            command[command.index(option) + 1] = value
        else:
            command += [option, value]
    state.commands[role] = command
    state.save()
    lab.restart(role)
    try:
        yield command
    finally:
        state = site.LabState.load(lab.state.prefix)
        state.commands[role] = original
        state.save()
        lab.restart(role)


def test_the_stream_is_tls_between_the_movers_by_default_and_clear_when_both_say_so(
        lab: Lab) -> None:
    boot = start(lab, "enc1")

    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "enc1")
    record, line = carried(lab, "enc1")
    assert record["encrypted"] is True and "TLSv1.3" in line, line
    kept_running(lab, "enc1", TARGET, boot)

    set_encryption(lab, False)
    try:
        assert lab.values("lslparmigr", "-r", "sys", "-m", TARGET, "-F",
                          "stream_encryption") == ["0"]
        lab.run("migrlpar", "-o", "m", "-m", TARGET, "-t", SOURCE, "-p", "enc1")
    finally:
        set_encryption(lab, True)
    record, line = carried(lab, "enc1")
    assert record["encrypted"] is False and "not encrypted" in line, line
    kept_running(lab, "enc1", SOURCE, boot)
    remove(lab, "enc1", SOURCE)


def test_a_mover_pair_named_by_name_and_address_carries_the_stream(lab: Lab) -> None:
    boot = start(lab, "pair1")
    target_ip = site.system_node(lab.state.prefix, 2).address

    lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "pair1", "-i",
            f"source_msp_name={SOURCE}-msp1,dest_msp_ipaddr={target_ip}")

    record, line = carried(lab, "pair1")
    assert (record["source_msp_name"], record["dest_msp_name"]) == (f"{SOURCE}-msp1",
                                                                    f"{TARGET}-msp1")
    assert line.startswith("1 connection(s)")
    kept_running(lab, "pair1", TARGET, boot)
    remove(lab, "pair1", TARGET)


def test_wrong_or_missing_movers_are_refused_at_validation(lab: Lab) -> None:
    start(lab, "val1")

    unknown = findings(lab, "val1", dest_msp_name="nosuch")
    elsewhere = findings(lab, "val1", dest_msp_ipaddr="198.18.0.250")
    lab.kill(f"{TARGET}-mover")
    try:
        down = findings(lab, "val1")
        refused = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "val1",
                          check=False)
    finally:
        lab.restart(f"{TARGET}-mover")

    assert [(f["code"], f["object"]) for f in unknown] == [("HSCLF195", TARGET)]
    assert [(f["code"], f["object"]) for f in elsewhere] == [("HSCLF196", TARGET)]
    assert [(f["code"], f["object"]) for f in down] == [("HSCLF194", TARGET)]
    assert refused.returncode != 0 and "HSCLF194" in refused.stderr
    assert lab.values("lssyscfg", "-r", "lpar", "-m", SOURCE, "-F", "name,state",
                      "--filter", "lpar_names=val1") == ["val1,Running"]
    remove(lab, "val1", SOURCE)


def test_a_mover_certified_by_another_console_is_refused_until_enrolled(
        lab: Lab, tmp_path: Path) -> None:
    start(lab, "cert1")
    tls = site.LabState.directory(lab.state.prefix) / f"{TARGET}-msp1" / "tls"
    foreign = CertificateAuthority(tmp_path / "other-console", "elsewhere")
    key = ec.generate_private_key(ec.SECP256R1())
    (tls / "mover.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    request = MoverCredentials(f"{TARGET}-msp1", tls).certificate_request()
    (tls / "mover.crt").write_text(foreign.issue(request, f"{TARGET}-msp1"))
    (tls / "authority.crt").write_text(foreign.certificate_pem)
    lab.restart(f"{TARGET}-mover")

    found = findings(lab, "cert1")
    pairs = lab.values("lslparmigr", "-r", "msp", "-m", SOURCE, "-t", TARGET, "-F",
                       "usable,reason")
    refused = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "cert1",
                      check=False)
    lab.run("openlpm", "mover", "enroll", "-m", TARGET)
    after = findings(lab, "cert1")

    assert [(f["code"], f["object"]) for f in found] == [("HSCLF422", f"{TARGET}-msp1")]
    assert "another authority" in found[0]["message"]
    # The source mover really tried: its TLS handshake rejected the stranger.
    assert pairs[0].startswith("0,") and "not issued by this console" in pairs[0], pairs
    assert refused.returncode != 0 and "HSCLF422" in refused.stderr
    assert after == []
    remove(lab, "cert1", SOURCE)


def test_a_stream_altered_between_the_movers_fails_cleanly_on_the_source(lab: Lab) -> None:
    boot = start(lab, "tamp1")
    node = site.system_node(lab.state.prefix, 2)
    advertised = f"{node.address}:{site.MOVER_DATA_PORT}"
    hidden = f"{node.address}:{site.MOVER_DATA_PORT + 100}"
    with target_mover_started_with(lab, ("--data", hidden), ("--advertise", advertised)):
        relay = subprocess.Popen(
            ["ip", "netns", "exec", node.namespace, sys.executable, "-m",
             "tests.tamper_proxy", "--listen", advertised, "--to", hidden,
             "--flip-at", str(4 << 20)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert relay.stdout is not None and relay.stdout.readline() == "listening\n"
            result = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p",
                             "tamp1", check=False)
        finally:
            relay.terminate()
            said, _ = relay.communicate(timeout=10)

    assert "flipped the byte" in said, "the relay altered nothing"
    assert result.returncode != 0, result.stdout
    record = lab.api("/partitions/tamp1/migration")
    assert record["state"] == "Migration Failed" and record["step"] == 4, record
    lab.assert_not_on(TARGET, "tamp1")
    assert lab.qemu_pids(TARGET, "tamp1") == []
    kept_running(lab, "tamp1", SOURCE, boot)
    remove(lab, "tamp1", SOURCE)
