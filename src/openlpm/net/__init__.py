"""Networking of a managed system: its virtual switch, VLANs, and partition ports."""
