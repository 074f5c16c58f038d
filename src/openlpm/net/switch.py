"""A managed system's virtual switch: one segment per VLAN, ports for partitions.

Each VLAN is a Linux bridge (``vsw<VID>``) joined to the network by a VXLAN endpoint
(``vx<VID>``, VNI = VLAN id, flooding to a multicast group per VLAN) over the system's
uplink. VXLAN rather than 802.1Q tags because it needs neither bridge VLAN filtering nor
the 8021q module, which some hosts' kernels (this project's test machines among them)
lack; each VLAN is still its own broadcast domain, and remote MACs are learnt from the
traffic, so a partition that moves is found on its new system as soon as it announces
itself there (step 5b). A VLAN the system does not bridge still gets a bridge, but no
endpoint: its ports reach only each other.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pyroute2 import IPRoute, NetNS
from pyroute2.netlink.exceptions import NetlinkError

from openlpm.errors import HypervisorError

log = logging.getLogger("openlpm.net.switch")

VXLAN_PORT = 4789
# VXLAN adds 50 bytes to each frame; partition ports stay within a 1500-byte uplink.
PORT_MTU = 1450


def segment_bridge(vid: int) -> str:
    return f"vsw{vid}"


def flood_group(vid: int) -> str:
    """The multicast group a VLAN's broadcasts and unknown destinations go to."""
    return f"239.1.{vid >> 8}.{vid & 255}"


@dataclass(frozen=True)
class VirtualSwitch:
    uplink: str
    vlans: tuple[int, ...]
    # The network namespace it lives in, when not the caller's own (the lab's client).
    netns: str | None = None

    async def start(self) -> None:
        # pyroute2's synchronous calls run an event loop of their own: not in ours.
        await asyncio.to_thread(self.make_segments)

    async def plug(self, port: str, vid: int) -> None:
        await asyncio.to_thread(self.connect, port, vid)

    def make_segments(self) -> None:
        """Create the segment of every bridged VLAN (those that exist are kept)."""
        for vid in self.vlans:
            self._segment(vid)

    def connect(self, port: str, vid: int) -> None:
        """Make ``port`` (a partition's tap) a port of VLAN ``vid``.

        Raises HypervisorError when the kernel refuses.
        """
        bridge = self._segment(vid)
        try:
            with self._netlink() as ip:
                index = _index(ip, port)
                ip.link("set", index=index, master=bridge, mtu=PORT_MTU, state="up")
        except (NetlinkError, LookupError) as exc:
            raise HypervisorError(f"Port {port} could not join VLAN {vid}: {exc}",
                                  code="HSCLF621") from exc
        if vid not in self.vlans:
            log.warning("port %s is on VLAN %s, which this system does not bridge", port, vid)

    def _segment(self, vid: int) -> int:
        """The bridge of VLAN ``vid`` (made if missing); returns its index."""
        name = segment_bridge(vid)
        try:
            with self._netlink() as ip:
                if not ip.link_lookup(ifname=name):
                    ip.link("add", ifname=name, kind="bridge", br_mcast_snooping=0)
                bridge = _index(ip, name)
                endpoint = f"vx{vid}"
                if vid in self.vlans and not ip.link_lookup(ifname=endpoint):
                    ip.link("add", ifname=endpoint, kind="vxlan", vxlan_id=vid,
                            vxlan_group=flood_group(vid), vxlan_link=_index(ip, self.uplink),
                            vxlan_port=VXLAN_PORT, vxlan_learning=1)
                    ip.link("set", index=_index(ip, endpoint), master=bridge, state="up")
                ip.link("set", index=bridge, state="up")
                return bridge
        except (NetlinkError, LookupError) as exc:
            raise HypervisorError(f"The virtual switch could not make the segment of VLAN "
                                  f"{vid} on uplink {self.uplink}: {exc}",
                                  code="HSCLF621") from exc


    def _netlink(self) -> IPRoute | NetNS:
        return NetNS(self.netns) if self.netns else IPRoute()


def _index(ip: IPRoute | NetNS, name: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise LookupError(f"no interface {name}")
    return int(found[0])
