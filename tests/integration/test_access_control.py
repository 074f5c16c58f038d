"""Access control through the real commands: users and roles, signing in, API tokens,
refusals, and the audit log that records them."""

from __future__ import annotations

import csv
import json
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from openlpm.authority import CertificateAuthority
from openlpm.lab import site
from tests.integration.conftest import Lab

PROFILE = ("name={name},min_mem=128,desired_mem=128,max_mem=128,min_procs=1,"
           "desired_procs=1,max_procs=1")


def signed_in_as(lab: Lab, user: str, password: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a user who ran 'openlpm login' with their own credentials."""
    env = {"OPENLPM_CREDENTIALS": str(tmp_path / f"{user}.json")}
    out = lab.run("openlpm", "login", "-u", user, stdin=f"{password}\n", env=env).stdout
    assert f"as {user}" in out
    return env


def audit(lab: Lab) -> list[str]:
    return lab.values("lssvcevents", "-t", "console", "-i", "30", "-F",
                      "user:text:result:code")


def test_a_viewer_may_list_but_not_migrate_and_the_refusal_is_audited(
        lab: Lab, tmp_path: Path) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name="keep1"))
    lab.run("mkhmcusr", "-u", "ann", "-a", "hmcviewer", stdin="ann-password\n")
    assert "ann:hmcviewer" in lab.values("lshmcusr", "-F", "name:taskrole")
    ann = signed_in_as(lab, "ann", "ann-password", tmp_path)
    credentials = tmp_path / "ann.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    assert "keep1" in lab.run("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name",
                              env=ann).stdout
    refused = lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "keep1",
                      env=ann, check=False)
    assert refused.returncode == 12
    assert "HSCL350B" in refused.stderr and "hmcviewer" in refused.stderr
    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name") == ["keep1"]
    assert "ann:POST /migrations:refused:HSCL350B" in audit(lab)


def test_hmc_scripts_get_the_hmc_s_codes_and_listings(lab: Lab, tmp_path: Path) -> None:
    """What scripts written for the HMC look for: mkhmcusr -i, HSCL8012 for an unknown
    partition in --filter, every value with -F alone, HSCL350B and its words."""
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name="codes1"))
    unknown = lab.run("lssyscfg", "-r", "lpar", "-m", "sys1", "--filter",
                      '"lpar_names=codes1,nosuch"', "-F", "name", check=False)
    assert unknown.returncode == 3 and unknown.stdout == ""
    assert unknown.stderr.startswith("HSCL8012 The partition named nosuch was not found "
                                     "on managed system sys1.")
    every = lab.run("lssyscfg", "-r", "lpar", "-m", "sys1", "--filter", "lpar_names=codes1",
                    "-F").stdout
    pairs = lab.run("lssyscfg", "-r", "lpar", "-m", "sys1", "--filter", "lpar_names=codes1"
                    ).stdout
    assert every.count("\n") == 1 and every.startswith("codes1,")
    assert next(csv.reader([every])) == [p.split("=", 1)[1] for p in
                                         next(csv.reader([pairs]))]

    lab.run("mkhmcusr", "-i", "name=dee,taskrole=hmcviewer,passwd=dee-password")
    dee = signed_in_as(lab, "dee", "dee-password", tmp_path)
    refused = lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", "codes1",
                      env=dee, check=False)
    assert refused.returncode == 12
    assert refused.stderr.startswith("HSCL350B The user does not have the appropriate "
                                     "authority")
    lab.run("rmsyscfg", "-r", "lpar", "-m", "sys1", "-n", "codes1")


def test_an_operator_migrates_and_the_audit_log_says_who(lab: Lab, tmp_path: Path) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", PROFILE.format(name="move1"))
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", "move1")
    lab.wait_ticks("sys1", "move1", more_than=0)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "shutdown", "--immed",
            "-n", "move1")
    lab.run("mkhmcusr", "-u", "bob", "-a", "hmcoperator", stdin="bob-password\n")
    bob = signed_in_as(lab, "bob", "bob-password", tmp_path)

    lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "move1", env=bob)

    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys2", "-F", "name",
                      "--filter", "lpar_names=move1") == ["move1"]
    assert "bob:POST /migrations:done:null" in audit(lab)
    refused = lab.run("mkhmcusr", "-u", "eve", "-a", "hmcsuperadmin", stdin="eve-password\n",
                      env=bob, check=False)
    assert refused.returncode == 12 and "HSCL350B" in refused.stderr


def test_without_signing_in_every_call_is_refused(lab: Lab, tmp_path: Path) -> None:
    nobody = {"OPENLPM_CREDENTIALS": str(tmp_path / "none.json")}
    refused = lab.run("lssyscfg", "-r", "sys", env=nobody, check=False)
    assert refused.returncode == 11
    assert "HSCLF502" in refused.stderr and "openlpm login" in refused.stderr
    reply = httpx.post(f"{lab.state.hmc_url}/migrations", json={
        "source": "sys1", "target": "sys2", "partition": "keep1"},
        verify=site.console_trust(lab.state))
    assert reply.status_code == 401
    wrong = lab.run("openlpm", "login", "-u", "hscroot", stdin="not-the-password\n",
                    env=nobody, check=False)
    assert wrong.returncode == 11 and "HSCLF501" in wrong.stderr
    events = audit(lab)
    assert "-:POST /migrations:refused:HSCLF502" in events
    assert "hscroot:sign in:refused:HSCLF501" in events


def test_an_api_token_serves_a_script_until_it_is_removed(lab: Lab, tmp_path: Path) -> None:
    out = lab.run("openlpm", "token", "create", "--name", "nightly-report").stdout
    token = out.splitlines()[-1]
    script = {"OPENLPM_TOKEN": token, "OPENLPM_CREDENTIALS": str(tmp_path / "none.json")}
    assert lab.values("lssyscfg", "-r", "sys", "-F", "name") == \
        lab.run("lssyscfg", "-r", "sys", "-F", "name", env=script).stdout.splitlines()
    token_id = lab.values("openlpm", "token", "list", "-F", "id:name")[-1].split(":")[0]
    lab.run("openlpm", "token", "rm", token_id)
    refused = lab.run("lssyscfg", "-r", "sys", env=script, check=False)
    assert refused.returncode == 11 and "HSCLF504" in refused.stderr


def test_no_password_or_token_reaches_a_log(lab: Lab, tmp_path: Path) -> None:
    lab.run("mkhmcusr", "-u", "cy", "-a", "hmcviewer", stdin="cy-secret-password\n")
    signed_in_as(lab, "cy", "cy-secret-password", tmp_path)
    secrets = ["cy-secret-password",
               site.admin_password_file(lab.state.prefix).read_text().strip(),
               *(json_values(tmp_path / "cy.json")),
               *(json_values(site.credentials_file(lab.state.prefix)))]
    logs = site.LabState.directory(lab.state.prefix) / "logs"
    text = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    text += "\n".join(audit(lab))
    assert all(secret not in text for secret in secrets)


def json_values(path: Path) -> list[str]:
    return [str(v) for v in json.loads(path.read_text()).values()]


# Tries an agent from the console's own namespace, as another console would: with no
# certificate, or with one from another console's authority. Prints what happened.
INTRUDER = """
import ssl, sys
from pathlib import Path
import httpx
import pytest
from openlpm.authority import CertificateAuthority, client_context

url, directory = sys.argv[1], Path(sys.argv[2])
foreign = client_context(CertificateAuthority(directory, "other agent authority"),
                         directory, "other console")
foreign.check_hostname = False
foreign.verify_mode = ssl.CERT_NONE
for name, tls in (("no certificate", False), ("another console", foreign)):
    try:
        reply = httpx.get(url + "/partitions", verify=tls, timeout=10)
        print(name, "answered", reply.status_code)
    except httpx.HTTPError as exc:
        print(name, "refused", type(exc).__name__)
"""


def test_an_agent_answers_only_the_console_that_enrolled_it(lab: Lab, tmp_path: Path) -> None:
    agent_url = lab.values("lssyscfg", "-r", "sys", "-m", "sys1", "-F", "agent_url")[0]
    assert agent_url.startswith("https://")
    tried = subprocess.run(
        ["ip", "netns", "exec", f"{lab.state.prefix}-hmc", sys.executable, "-c", INTRUDER,
         agent_url, str(tmp_path / "other")], capture_output=True, text=True, check=True)
    assert tried.stdout.splitlines() == ["no certificate refused RemoteProtocolError",
                                         "another console refused RemoteProtocolError"], \
        tried.stdout + tried.stderr
    assert lab.values("lssyscfg", "-r", "sys", "-m", "sys1", "-F", "state") == ["Operating"]
    tls = site.LabState.directory(lab.state.prefix) / "sys1" / "tls"
    assert not (tls / "enrollment-code").exists(), "the one-time code outlived its use"
    assert stat.S_IMODE((tls / "agent.key").stat().st_mode) == 0o600


def test_the_console_answers_https_only_and_a_client_that_does_not_trust_it_is_told(
        lab: Lab, tmp_path: Path) -> None:
    assert lab.state.hmc_url.startswith("https://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(lab.state.hmc_url.replace("https://", "http://") + "/login", timeout=5)
    other = CertificateAuthority(tmp_path / "other", "another console")
    untrusted = lab.run("lssyscfg", "-r", "sys", check=False, env={
        "OPENLPM_HMC_CA": str(other.directory / "authority.crt")})
    assert untrusted.returncode == 8
    assert "HSCLF528" in untrusted.stderr and "OPENLPM_HMC_CA" in untrusted.stderr
