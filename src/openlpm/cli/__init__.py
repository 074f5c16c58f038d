"""Command-line front ends: the HMC-compatible commands and the ``openlpm`` command."""
