"""Agents and mover services answer their console's identity, and nobody else's.

Each attack runs from a lab namespace, as an outsider on the management network (the
client's) or as root on one managed system (sys2) reaching for another (sys1), with the
keys such an attacker holds. A positive control with the console's own identity shows
the same call goes through, so a refusal is the rule at work and not a broken test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from openlpm.lab import site
from openlpm.lab.site import AGENT_PORT, CLIENT_ADDRESS, MOVER_CONTROL_PORT
from tests.integration.conftest import BIN, Lab
from tests.security.conftest import from_namespace

SYS1 = site.system_node("", 1).address

# Runs inside a namespace: one HTTPS call with the given client certificate (or none),
# not checking the server (an attacker would not). Prints the status and body, or
# "refused: ..." when the TLS handshake or the connection fails.
CALL = """
import http.client, json, ssl
host, port, method, path, body, cert, key = json.loads({args!r})
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
if cert:
    context.load_cert_chain(cert, key)
try:
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=10)
    connection.request(method, path, body=body,
                       headers={{"Content-Type": "application/json"}})
    response = connection.getresponse()
    print(response.status, response.read().decode())
except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
    print("refused:", type(exc).__name__, exc)
"""


def call(lab: Lab, namespace: str, port: int, method: str, path: str,
         identity: tuple[Path, Path] | None = None, body: object = None,
         host: str = SYS1) -> str:
    cert, key = (str(identity[0]), str(identity[1])) if identity else ("", "")
    payload = json.dumps(body) if body is not None else None
    args = json.dumps([host, port, method, path, payload, cert, key])
    return from_namespace(lab, namespace, CALL.format(args=args)).strip()


def workdir(lab: Lab) -> Path:
    return site.LabState.directory(lab.state.prefix)


def console_identity(lab: Lab) -> tuple[Path, Path]:
    agents = workdir(lab) / "authority" / "agents"
    return agents / "client.crt", agents / "client.key"


def agent_identity(lab: Lab, system: str) -> tuple[Path, Path]:
    tls = workdir(lab) / system / "tls"
    return tls / "agent.crt", tls / "agent.key"


def mover_identities(lab: Lab, system: str) -> list[tuple[Path, Path]]:
    """The mover's control certificate and its stream certificate, with their key."""
    mover = workdir(lab) / f"{system}-msp1"
    return [(mover / "control" / "mover.crt", mover / "control" / "mover.key"),
            (mover / "tls" / "mover.crt", mover / "tls" / "mover.key")]


def partitions_of(lab: Lab, system: str) -> list[str]:
    return lab.values("lssyscfg", "-r", "lpar", "-m", system, "-F", "name,state")


def test_an_outsider_gets_no_answer_from_an_agent_or_a_mover(lab: Lab) -> None:
    before = partitions_of(lab, "sys1")
    for port, path in ((AGENT_PORT, "/system"), (AGENT_PORT, "/partitions"),
                       (MOVER_CONTROL_PORT, "/mover"),
                       (MOVER_CONTROL_PORT, "/channels/m1")):
        assert call(lab, "client", port, "GET", path).startswith("refused:"), (port, path)
    assert call(lab, "client", AGENT_PORT, "DELETE", "/partitions/x").startswith("refused:")
    assert partitions_of(lab, "sys1") == before
    # The same calls with the console's identity are answered: the refusal is the rule.
    assert call(lab, "client", AGENT_PORT, "GET", "/system",
                console_identity(lab)).startswith("200 ")
    assert call(lab, "client", MOVER_CONTROL_PORT, "GET", "/mover",
                console_identity(lab)).startswith("200 ")


def test_one_hosts_certificates_open_no_other_host(lab: Lab) -> None:
    """Root on sys2 holds sys2's agent and mover keys; none of them opens sys1."""
    before = partitions_of(lab, "sys1")
    stolen = [agent_identity(lab, "sys2"), *mover_identities(lab, "sys2")]
    for identity in stolen:
        for port, method, path in ((AGENT_PORT, "GET", "/partitions"),
                                   (AGENT_PORT, "PUT", "/system/maintenance"),
                                   (MOVER_CONTROL_PORT, "GET", "/mover"),
                                   (MOVER_CONTROL_PORT, "PUT", "/certificate")):
            answer = call(lab, "sys2", port, method, path, identity,
                          body={"maintenance": True} if method == "PUT" else None)
            assert answer.startswith("refused:"), (identity, port, path, answer)
    assert partitions_of(lab, "sys1") == before
    assert call(lab, "sys2", AGENT_PORT, "GET", "/partitions",
                console_identity(lab)).startswith("200 ")


def test_a_mover_takes_no_destination_or_path_from_a_request(lab: Lab) -> None:
    """Even with the console's identity, a request cannot point a stream at QEMU's
    monitor or make the mover bind a socket outside its directory."""
    console = console_identity(lab)
    token = "A" * 32
    qmp = workdir(lab) / "sys1" / "run" / "web1" / "qmp.sock"
    refused = [
        ("/channels/incoming", {"migration_id": "m1", "token": token, "partition": "web1",
                                "forward_to": f"unix:{qmp}"}),
        ("/channels/incoming", {"migration_id": "m1", "token": token,
                                "partition": "../../etc"}),
        ("/channels/outgoing", {"migration_id": "../../../tmp/owned", "token": token,
                                "peer": "198.18.0.12:8472"}),
        ("/channels/outgoing", {"migration_id": "m2", "token": token,
                                "peer": f"unix:{qmp}"}),
        ("/probe", {"peer": f"unix:{qmp}"}),
    ]
    for path, body in refused:
        answer = call(lab, "sys2", MOVER_CONTROL_PORT, "POST", path, console, body)
        assert answer.startswith("400 ") and "HSCLF" in answer, (path, body, answer)
    assert not Path("/tmp/owned.sock").exists()
    assert call(lab, "sys2", MOVER_CONTROL_PORT, "GET", "/channels/m1",
                console).startswith("404 ")


def test_an_agent_no_console_enrolled_answers_only_its_enrollment(lab: Lab,
                                                                   tmp_path: Path) -> None:
    """A fresh agent on the network: whoever reaches it first must not drive it."""
    os.chmod(tmp_path, 0o700)
    port = 18470
    image = site.IMAGE_DIR
    agent = subprocess.Popen(
        [str(BIN / "openlpm"), "agent", "serve", "--netns", f"{lab.state.prefix}-client",
         "--name", "fresh", "--listen", f"{CLIENT_ADDRESS}:{port}",
         "--state-dir", str(tmp_path / "fresh"), "--cpus", "1", "--memory-mb", "256",
         "--accel", "tcg", "--kernel", str(image / "vmlinuz"),
         "--initrd", str(image / "initrd.img"), "--kernel-args", "console=ttyS0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while "refused:" in (answer := call(lab, "client", port, "GET", "/enrollment",
                                            host=CLIENT_ADDRESS)):
            assert time.monotonic() < deadline, answer
            time.sleep(0.5)
        assert answer.startswith("200 ") and '"enrolled":false' in answer
        for method, path in (("GET", "/system"), ("GET", "/partitions"),
                             ("POST", "/partitions"), ("PUT", "/system/maintenance")):
            answer = call(lab, "client", port, method, path, host=CLIENT_ADDRESS, body={})
            assert answer.startswith("403 ") and "HSCLF518" in answer, (path, answer)
        assert not (tmp_path / "fresh" / "profiles").exists() or not any(
            (tmp_path / "fresh" / "profiles").iterdir())
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def test_a_data_port_cuts_a_peer_that_trickles_its_header(lab: Lab) -> None:
    """One byte every few seconds used to hold a thread for an hour (10 s a byte)."""
    script = f"""
import socket, time
sock = socket.create_connection(("{SYS1}", {site.MOVER_DATA_PORT}), timeout=30)
started = time.monotonic()
try:
    for byte in b"OPENLPM-MOVER/1 m1 " + b"x" * 40:
        sock.sendall(bytes([byte]))
        time.sleep(1)
        if time.monotonic() - started > 25:
            break
    sock.settimeout(5)
    closed = sock.recv(1) == b""
except TimeoutError:
    closed = False
except OSError:
    closed = True
print(closed, round(time.monotonic() - started))
"""
    closed, seconds = from_namespace(lab, "sys2", script).split()
    assert closed == "True"
    assert int(seconds) <= 15


def test_the_data_port_closes_a_header_that_is_not_ascii(lab: Lab) -> None:
    """A token that is not ASCII made the token check raise, and the socket leaked."""
    channel = {"migration_id": "m9", "token": "B" * 32, "partition": "web1",
               "encrypted": False}
    assert call(lab, "sys2", MOVER_CONTROL_PORT, "POST", "/channels/incoming",
                console_identity(lab), channel).startswith("200 ")
    script = f"""
import socket
for _ in range(3):
    sock = socket.create_connection(("{SYS1}", {site.MOVER_DATA_PORT}), timeout=10)
    sock.sendall("OPENLPM-MOVER/1 m9 t\\u00f6ken\\n".encode())
    try:
        print(sock.recv(10) == b"", end=" ")
    except TimeoutError:
        print("open", end=" ")
    sock.close()
"""
    try:
        assert from_namespace(lab, "sys2", script).split() == ["True"] * 3
    finally:
        call(lab, "sys2", MOVER_CONTROL_PORT, "DELETE", "/channels/m9",
             console_identity(lab))


def test_an_unprivileged_user_gets_nothing_from_a_movers_local_socket(lab: Lab) -> None:
    socket_path = workdir(lab) / "sys1-msp1" / "local.sock"
    assert socket_path.exists()
    script = (f"import socket; s = socket.socket(socket.AF_UNIX); "
              f"s.connect({str(socket_path)!r}); print(s.recv(100))")
    done = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", script],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0 and "PermissionError" in done.stderr, done.stdout
