"""A partition's virtual Ethernet adapters as QEMU devices and virtual switch ports."""

from __future__ import annotations

import secrets

from openlpm.model import PartitionProfile, VirtualEthernetAdapter
from openlpm.net.switch import PORT_MTU, VirtualSwitch


def port_name(profile: PartitionProfile, adapter: VirtualEthernetAdapter) -> str:
    """The tap of an adapter: unique on its system, as partition ids are (≤ 15 chars)."""
    return f"lp{profile.lpar_id}s{adapter.slot}"


def with_macs(profile: PartitionProfile) -> PartitionProfile:
    """The profile with a MAC address for each adapter that has none yet."""
    adapters = tuple(a if a.mac_addr else a.model_copy(update={"mac_addr": new_mac()})
                     for a in profile.virtual_eth_adapters)
    return profile.model_copy(update={"virtual_eth_adapters": adapters})


def new_mac() -> str:
    """A locally administered unicast address in QEMU's range (52:54:00:...)."""
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def qemu_arguments(profile: PartitionProfile) -> list[str]:
    args: list[str] = []
    for adapter in sorted(profile.virtual_eth_adapters, key=lambda a: a.slot):
        netdev = f"veth{adapter.slot}"
        args += ["-netdev", f"tap,id={netdev},ifname={port_name(profile, adapter)},"
                            "script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev={netdev},id=vnic{adapter.slot},"
                            f"mac={adapter.mac_addr},host_mtu={PORT_MTU},romfile="]
    return args


async def plug_ports(switch: VirtualSwitch, profile: PartitionProfile) -> None:
    """Put each adapter's tap (made by its QEMU) on the adapter's VLAN."""
    for adapter in profile.virtual_eth_adapters:
        await switch.plug(port_name(profile, adapter), adapter.port_vlan_id)
