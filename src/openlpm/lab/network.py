"""The lab's network: one namespace per node, joined by a switch in its own namespace.

Nothing is created in the host's own namespace, so the host keeps its addresses and
routes untouched; every name starts with the lab's prefix.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from pyroute2 import NetNS, netns

from openlpm.net.switch import PORT_MTU, VirtualSwitch

SWITCH_BRIDGE = "br0"
NODE_INTERFACE = "eth0"
PREFIX_LEN = 24


@dataclass(frozen=True)
class Node:
    """A host of the lab: its namespace, its port name on the switch, its address."""

    namespace: str
    port: str
    address: str


def switch_namespace(prefix: str) -> str:
    return f"{prefix}-sw"


def create_switch(prefix: str) -> None:
    name = switch_namespace(prefix)
    netns.create(name)
    with NetNS(name) as ns:
        # Multicast floods to every port: virtual switches send each VLAN's broadcasts
        # to a group (net/switch.py), and no querier runs here to make snooping work.
        ns.link("add", ifname=SWITCH_BRIDGE, kind="bridge", br_mcast_snooping=0)
        _up(ns, "lo")
        _up(ns, SWITCH_BRIDGE)


def attach(prefix: str, node: Node) -> None:
    """Create the node's namespace and cable it to the switch."""
    netns.create(node.namespace)
    with NetNS(switch_namespace(prefix)) as switch:
        switch.link("add", ifname=node.port, kind="veth",
                    peer={"ifname": NODE_INTERFACE, "net_ns_fd": node.namespace})
        bridge = switch.link_lookup(ifname=SWITCH_BRIDGE)[0]
        port = switch.link_lookup(ifname=node.port)[0]
        switch.link("set", index=port, master=bridge, state="up")
    with NetNS(node.namespace) as ns:
        _up(ns, "lo")
        index = ns.link_lookup(ifname=NODE_INTERFACE)[0]
        ns.addr("add", index=index, address=node.address, prefixlen=PREFIX_LEN)
        ns.link("set", index=index, state="up")


def attach_client(prefix: str, node: Node, vlans: tuple[int, ...]) -> None:
    """A host of the lab on every VLAN: cabled to the switch like a system, and on each
    VLAN's segment with address 198.18.VID.2, to reach partitions as a user would."""
    attach(prefix, node)
    switch = VirtualSwitch(NODE_INTERFACE, vlans, netns=node.namespace)
    switch.make_segments()
    for vid in vlans:
        port, host = f"port{vid}", f"vlan{vid}"
        with NetNS(node.namespace) as ns:
            ns.link("add", ifname=port, kind="veth", peer=host)
            index = ns.link_lookup(ifname=host)[0]
            ns.addr("add", index=index, address=client_address(vid), prefixlen=PREFIX_LEN)
            ns.link("set", index=index, mtu=PORT_MTU, state="up")
        switch.connect(port, vid)


def client_address(vid: int) -> str:
    return f"198.18.{vid}.2"


def remove_namespaces(prefix: str) -> list[str]:
    """Delete every namespace of the lab; returns their names."""
    removed = []
    for name in netns.listnetns():
        if name.startswith(f"{prefix}-"):
            with contextlib.suppress(OSError):
                netns.remove(name)
            removed.append(name)
    return removed


def _up(ns: NetNS, ifname: str) -> None:
    ns.link("set", index=ns.link_lookup(ifname=ifname)[0], state="up")
