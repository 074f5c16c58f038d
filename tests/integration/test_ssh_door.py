"""The console's SSH door on a real lab, driven as HMC scripts drive an HMC: OpenSSH's
client with sshpass from the lab's client namespace, each command line a string.

The lab: sys1 and sys2 on the first console (its door at 198.18.0.2:22), sys3 on a
second console (hmcb, at 198.18.0.5) for mkauthkeys --ip --test. Two small partitions.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from openlpm.authority import fingerprint
from openlpm.errors import NotPermitted
from openlpm.lab import site
from tests.integration.conftest import Lab

LAB_SPEC = {"systems": 3, "remote_hmc": "hmcb"}
HMC, HMCB = site.HMC_ADDRESS, site.REMOTE_HMC_ADDRESS
SCRIPTS = Path(__file__).parent / "scripts"
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR"]
PROFILE = ("name={name},min_mem=128,desired_mem=256,max_mem=512,min_procs=1,"
           "desired_procs=1,max_procs=1")
VIEWER, VIEWER_PASSWORD = "viewer1", "viewer1-Passw0rd"


def client(lab: Lab, *argv: str, stdin: str = "",
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the lab's client namespace, with nothing of openlpm's environment
    (no token, no credentials file: only what the SSH client sends)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPENLPM")}
    return subprocess.run(["ip", "netns", "exec", f"{lab.state.prefix}-client", *argv],
                          env=environment | (env or {}), input=stdin, text=True,
                          capture_output=True, timeout=300, check=False)


def password(lab: Lab, console: str = "") -> str:
    return site.admin_password_file(lab.state.prefix, console).read_text().strip()


def ssh(lab: Lab, line: str, user: str = "hscroot", secret: str | None = None,
        *options: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``sshpass -p PW ssh -o ... USER@HMC 'LINE'``, as a script runs it."""
    return client(lab, "sshpass", "-p", secret or password(lab), "ssh", *SSH_OPTIONS,
                  *options, f"{user}@{HMC}", line, stdin=stdin)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}{result.stderr}"
    return result.stdout


def audit(lab: Lab) -> list[tuple[str, str, str, str | None]]:
    return [(e["user"], e["action"], e["result"], e["code"]) for e in lab.api("/audit")]


def start(lab: Lab, system: str, name: str) -> str:
    """A running partition; its boot id."""
    ok(ssh(lab, f"mksyscfg -r lpar -m {system} -i '{PROFILE.format(name=name)}'"))
    ok(ssh(lab, f"chsysstate -r lpar -m {system} -o on -n {name}"))
    return lab.wait_ticks(system, name, more_than=1)[-1][2]


def test_validate_migrate_and_list_as_a_script_does(lab: Lab) -> None:
    boot = start(lab, "sys1", "p1")
    before = lab.wait_ticks("sys1", "p1", more_than=2)
    ok(ssh(lab, "migrlpar -o v -m sys1 -t sys2 -p p1"))
    ok(ssh(lab, "migrlpar -o m -m sys1 -t sys2 -p p1"))
    assert ok(ssh(lab, "lslparmigr -r lpar -m sys2 -F name,migration_state "
                       "--filter lpar_names=p1")) == "p1,Not Migrating\n"
    assert ok(ssh(lab, "lssyscfg -r lpar -m sys2 -F name,state")) == "p1,Running\n"
    ticks = lab.wait_ticks("sys2", "p1", more_than=len(before) + 2)
    lab.assert_kept_running("sys2", "p1", ticks, boot)
    assert ("hscroot", "ssh migrlpar -o m -m sys1 -t sys2 -p p1", "done", None) in audit(lab)


def test_a_viewer_is_refused_a_migration_with_its_code_status_and_audit_line(
        lab: Lab) -> None:
    ok(ssh(lab, f"mkhmcusr -u {VIEWER} -a hmcviewer --passwd {VIEWER_PASSWORD}"))
    # The password is not in the audit log, though it was on the command line.
    assert not [e for e in audit(lab) if VIEWER_PASSWORD in e[1]]
    assert ok(ssh(lab, "lssyscfg -r sys -F name", VIEWER, VIEWER_PASSWORD)).split() == \
        ["sys1", "sys2"]
    refused = ssh(lab, "migrlpar -o m -m sys2 -t sys1 -p p1", VIEWER, VIEWER_PASSWORD)
    assert refused.returncode != 0
    # The HMC's code for a task the user's role does not have (was HSCLF505).
    assert refused.stderr.startswith(NotPermitted.default_code)
    assert (VIEWER, "ssh migrlpar -o m -m sys2 -t sys1 -p p1", "failed",
            NotPermitted.default_code) in audit(lab)
    assert "p1,Running" in ok(ssh(lab, "lssyscfg -r lpar -m sys2 -F name,state"))
    # Nor in any log of the lab (asyncssh would log each exec request's line).
    logs = site.LabState.directory(lab.state.prefix) / "logs"
    assert all(VIEWER_PASSWORD not in p.read_text(errors="replace") for p in logs.iterdir())


def test_an_interactive_session_runs_line_after_line_until_exit(lab: Lab) -> None:
    session = client(lab, "sshpass", "-p", password(lab), "ssh", *SSH_OPTIONS,
                     f"hscroot@{HMC}", stdin="bash\nlssyscfg -r sys -F name\nexit\n"
                                             "lssyscfg -r sys\n")
    # exit gives the last command's status, as a shell's exit does.
    assert session.returncode == 0, session.stderr
    assert session.stdout == "hscroot@hmc:~> hscroot@hmc:~> sys1\nsys2\nhscroot@hmc:~> "
    assert session.stderr.startswith("HSCLF823 bash: not an HMC command")


@pytest.mark.parametrize(("line", "status", "code"), [
    ("cat /etc/passwd", 127, "HSCLF823"), ("bash", 127, "HSCLF823"),
    ("bash -c id", 127, "HSCLF823"), ("/bin/sh", 127, "HSCLF823"),
    ("lssyscfg -r sys; id", 2, "HSCLF821"), ("lssyscfg -r sys $(id)", 2, "HSCLF821"),
    ("lssyscfg --help; bash", 2, "HSCLF821"), ("lssyscfg -r sys | sh", 2, "HSCLF821")])
def test_a_command_outside_the_hmc_set_is_refused(lab: Lab, line: str, status: int,
                                                  code: str) -> None:
    result = ssh(lab, line)
    assert result.returncode == status, result.stderr
    assert result.stderr.startswith(code) and result.stdout == ""
    assert ("hscroot", f"ssh {line}", "refused", code) in audit(lab)


@pytest.mark.parametrize("line", [
    "mkhmcusr -f /etc/shadow", "chhmcusr -f/etc/shadow",
    "migrlpar -o v -m sys1 -t sys2 -p p1 -vf /etc/shadow"])
def test_no_file_of_the_console_host_is_read(lab: Lab, line: str) -> None:
    # Its first line came back in the parse error (HSCLF002 ... 'root:$y$...').
    result = ssh(lab, line)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("HSCLF827") and "root:" not in result.stderr


def test_no_forwarding_no_sftp_no_environment(lab: Lab) -> None:
    forwarded = ssh(lab, "lssyscfg -r sys -F name", "hscroot", None, "-o",
                    "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22")
    assert forwarded.returncode == 255
    sftp = client(lab, "sshpass", "-p", password(lab), "sftp", *SSH_OPTIONS,
                  f"hscroot@{HMC}", stdin="ls\n")
    assert sftp.returncode != 0
    # SendEnv: the client's LANG/LC_* go nowhere; a command sees only the door's.
    sent = client(lab, "sshpass", "-p", password(lab), "ssh", *SSH_OPTIONS, "-o",
                  "SendEnv=OPENLPM_HMC OPENLPM_TOKEN", f"hscroot@{HMC}",
                  "lssyscfg -r sys -F name", env={"OPENLPM_HMC": "http://198.18.0.4:1",
                                                  "OPENLPM_TOKEN": "olpm_forged"})
    assert ok(sent).split() == ["sys1", "sys2"]
    long_line = ssh(lab, "lssyscfg -r sys -F " + "name," * 3000 + "name")
    assert long_line.returncode == 2 and long_line.stderr.startswith("HSCLF820")


def test_mkauthkeys_test_before_and_after_keys_are_exchanged(lab: Lab) -> None:
    before = ssh(lab, f"mkauthkeys --ip {HMCB} --test")
    assert before.returncode != 0
    assert "HSCL3653" in before.stdout + before.stderr
    certificate = site.console_certificate(lab.state, lab.state.remote_hmc_url).read_text()
    ok(ssh(lab, f"mkauthkeys --ip {HMCB} -u hscroot --fingerprint "
                f"{fingerprint(certificate)}", stdin=password(lab, "hmcb") + "\n"))
    ok(ssh(lab, f"mkauthkeys --ip {HMCB} --test"))
    ok(ssh(lab, f"mkauthkeys --ip {HMCB} --test -u hscroot"))


def test_a_key_added_with_mkauthkeys_signs_in_until_it_is_removed(lab: Lab,
                                                                  tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "admin@laptop",
                    "-f", str(key)], check=True)
    with_key = ["ssh", *SSH_OPTIONS, "-i", str(key), "-o", "BatchMode=yes", "-o",
                "IdentitiesOnly=yes", f"hscroot@{HMC}", "lssyscfg -r sys -F name"]
    assert client(lab, *with_key).returncode == 255
    ok(ssh(lab, f'mkauthkeys -a "{key.with_suffix(".pub").read_text().strip()}"'))
    assert ok(client(lab, *with_key)).split() == ["sys1", "sys2"]
    assert ("hscroot", "sign in (ssh key)", "done", None) in audit(lab)
    ok(ssh(lab, "mkauthkeys --remove admin@laptop"))
    assert client(lab, *with_key).returncode == 255


def test_an_administrators_script_evacuates_a_system_through_the_door(lab: Lab) -> None:
    boots = {"p1": lab.wait_ticks("sys2", "p1", more_than=1)[-1][2],
             "p2": start(lab, "sys2", "p2")}
    before = {name: len(lab.ticks("sys2", name)) for name in boots}
    result = client(lab, str(SCRIPTS / "evacuate.sh"), HMC, "sys2", "sys1",
                    env={"HMC_PASSWORD": password(lab)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(ok(ssh(lab, "lssyscfg -r lpar -m sys1 -F name,state")).split()) == \
        ["p1,Running", "p2,Running"]
    assert ok(ssh(lab, "lssyscfg -r lpar -m sys2 -F name")).strip() == \
        "No results were found."
    for name, boot in boots.items():
        assert lab.qemu_pids("sys2", name) == [] and len(lab.qemu_pids("sys1", name)) == 1
        ticks = lab.wait_ticks("sys1", name, more_than=before[name] + 2)
        lab.assert_one_boot("sys1", name, ticks, boot)
        assert ("hscroot", f"ssh migrlpar -o m -m sys2 -t sys1 -p {name}", "done",
                None) in audit(lab)


def test_the_host_key_is_the_same_after_the_console_restarts(lab: Lab) -> None:
    def scanned() -> str:
        out = ok(client(lab, "ssh-keyscan", "-t", "ed25519", HMC))
        return next(line for line in out.splitlines() if "ssh-ed25519" in line).split()[2]

    before = scanned()
    kept = site.LabState.directory(lab.state.prefix) / "ssh_host_ed25519_key.pub"
    assert kept.read_text().split()[1] == before
    assert (kept.with_suffix("").stat().st_mode & 0o777) == 0o600
    lab.restart("hmc")
    assert scanned() == before
    assert ok(ssh(lab, "lssyscfg -r sys -F name")).split() == ["sys1", "sys2"]
