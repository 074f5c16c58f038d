"""Installing openlpm's services on a host: their systemd units (``units.py``, from the
templates ``openlpm-ROLE.service`` here) and the Debian packages each needs
(``debian.py``, from ``debian-packages.txt`` here, which ``./dev`` reads too)."""
