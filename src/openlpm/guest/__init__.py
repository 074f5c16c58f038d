"""openlpm's guest side: what a partition's own operating system runs for openlpm.

The files beside this module are shell scripts and systemd units, not Python; an image
builder (``openlpm.lab.os_image``) installs them where ``FILES`` says:

- ``openlpm-network.service`` (``network``): the address the host gives through fw_cfg
  (``opt/org.openlpm/args``: ``openlpm.ip=ADDRESS/PREFIX``, ``openlpm.gateway=ADDRESS``)
  on the first Ethernet adapter, for systemd-networkd.
- ``mobility``: the mobility hook; ``mobility check`` asks every script in
  ``/etc/openlpm/mobility.d`` and answers ``ok`` or ``veto REASON``. The host's agent
  runs it through qemu-guest-agent's guest-exec before a migration.
- ``mobility.d/50-veto-file``: vetoes while ``/run/openlpm/veto`` exists.
- ``openlpm-first-boot.service`` (``first-boot``): each copy's own SSH host key and TLS
  certificate, made at its first boot.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable


@dataclass(frozen=True)
class GuestFile:
    source: str
    """The file's name beside this module."""
    target: str
    """Where it goes in the guest's root."""
    mode: int


FILES = (
    GuestFile("network", "/usr/lib/openlpm/network", 0o755),
    GuestFile("mobility", "/usr/lib/openlpm/mobility", 0o755),
    GuestFile("first-boot", "/usr/lib/openlpm/first-boot", 0o755),
    GuestFile("openlpm-network.service", "/etc/systemd/system/openlpm-network.service",
              0o644),
    GuestFile("openlpm-first-boot.service",
              "/etc/systemd/system/openlpm-first-boot.service", 0o644),
    GuestFile("mobility.d/50-veto-file", "/etc/openlpm/mobility.d/50-veto-file", 0o755),
)

# What the image enables (systemctl enable in its root).
UNITS = ("openlpm-network.service", "openlpm-first-boot.service")

MOBILITY_HOOK = "/usr/lib/openlpm/mobility"


def source(file: GuestFile) -> Traversable:
    """The file as shipped with openlpm (package data)."""
    return resources.files(__name__).joinpath(file.source)
