"""The HMC's mksysconn, lssysconn and rmsysconn: arguments refused before anything is
sent, and lssysconn's listing in the HMC's attribute format."""

from __future__ import annotations

import io

import pytest

from openlpm.cli.attributes import format_listing
from openlpm.cli.sysconn import (
    _mksysconn,
    connection_record,
    mksysconn,
    mksysconn_parser,
    rmsysconn,
)
from openlpm.model import ResourceType, SysConn, SysConnCreate


@pytest.mark.parametrize("ip", ["10.0.0.1/24", "user@10.0.0.1", "10.0.0.1#x", "a\nb",
                                "10.0.0.1:8470", "-"])
def test_an_address_that_is_not_one_is_an_argument_error(
        ip: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert mksysconn(["--ip", ip]) == 2
    assert capsys.readouterr().err.startswith("HSCLF001 mksysconn: argument --ip")
    assert rmsysconn(["-o", "remove", "--ip", ip]) == 2


@pytest.mark.parametrize("port", ["0", "65536", "8470x", "-1"])
def test_a_port_out_of_range_is_an_argument_error(port: str) -> None:
    assert mksysconn(["--ip", "10.0.0.1", "--port", port]) == 2


def test_rmsysconn_knows_the_hmc_s_two_operations_only() -> None:
    assert rmsysconn(["-o", "rebuild", "--ip", "10.0.0.1"]) == 2


def test_lssysconn_lists_the_hmc_s_attributes_then_name_and_version() -> None:
    connection = SysConn(resource_type=ResourceType.SYS, type_model_serial_num="openlpm*sys1",
                         ipaddr="198.18.0.11", state="Connected", name="sys1",
                         version="0.2.0")
    assert format_listing([connection_record(connection)], None, False) == (
        "resource_type=sys,type_model_serial_num=openlpm*sys1,sp=primary,"
        "sp_phys_loc=unavailable,ipaddr=198.18.0.11,alt_ipaddr=unavailable,"
        "state=Connected,connection_error_code=,name=sys1,version=0.2.0")


async def test_a_code_given_as_dash_is_read_from_standard_input_not_the_command_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[SysConnCreate] = []

    class Console:
        async def connect(self, request: SysConnCreate) -> None:
            sent.append(request)

    monkeypatch.setattr("sys.stdin", io.StringIO("Zr3-code\n"))
    args = mksysconn_parser().parse_args(["--ip", "10.0.0.21", "--passwd", "-"])
    await _mksysconn(args, Console())  # type: ignore[arg-type]
    assert sent[0].password == "Zr3-code"
