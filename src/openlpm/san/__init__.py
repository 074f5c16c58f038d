"""The SAN service: LUNs exported over NBD, mapped per WWPN (NPIV) or per host (vSCSI)."""
