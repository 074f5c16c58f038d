"""openlpm: Live Partition Mobility for Linux."""

__version__ = "0.1.0"
