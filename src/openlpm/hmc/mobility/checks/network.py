"""Checks of the partition's virtual Ethernet on the target (HMC check 31)."""

from __future__ import annotations

from collections.abc import Iterator

from openlpm.hmc.mobility.checks.facts import MigrationFacts, error, on_target, warning
from openlpm.model import Finding


@on_target
def vlans_bridged(facts: MigrationFacts) -> Iterator[Finding]:
    """Every VLAN of the virtual Ethernet adapters, as mapped (vlan_mappings), is bridged
    on the target (--vlanbridge 1, the default: an error; 2: a warning); each mapping
    names an adapter of the partition."""
    target = facts.target
    if target is None:
        return
    profile = facts.partition.profile
    macs = {a.mac_addr for a in profile.virtual_eth_adapters}
    for mapping in facts.request.vlan_mappings:
        if mapping.mac_addr not in macs:
            yield error("HSCLF199", facts.name,
                        f"vlan_mappings: partition {facts.name} has no virtual Ethernet "
                        f"adapter with the MAC address {mapping.mac_addr}.",
                        f"Give the MAC address of one of its adapters ('lshwres -r "
                        f"virtualio --rsubtype eth -m {facts.request.source}'), or leave "
                        f"the mapping out.")
    # Each adapter on the VLAN it will have on the target: its own or the one mapped.
    adapters = facts.request.placed(profile, target.io_services).virtual_eth_adapters
    if not adapters:
        return
    missing = sorted({a.port_vlan_id for a in adapters} - set(target.vlans))
    if not missing:
        return
    vlans = ", ".join(map(str, missing))
    message = (f"Managed system {target.name} does not bridge VLAN {vlans} of partition "
               f"{facts.name} (it bridges {', '.join(map(str, target.vlans)) or 'none'}).")
    if facts.request.vlan_bridge == 2:
        yield warning("HSCLF424", target.name, message + " The partition will reach only "
                      f"partitions of {target.name} on that VLAN.",
                      f"Bridge VLAN {vlans} on {target.name} (agent --vlans) to keep its "
                      f"network.")
    else:
        yield error("HSCLF423", target.name, message,
                    f"Bridge VLAN {vlans} on {target.name} (agent --vlans), choose another "
                    f"target, or migrate anyway with --vlanbridge 2.")
