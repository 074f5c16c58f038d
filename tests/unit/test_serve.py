"""The services' listeners answer without Nagle's delay on kept-alive connections."""

from __future__ import annotations

import socket

from openlpm.service import bind


def test_connections_accepted_by_a_service_listener_send_without_delay() -> None:
    listener = bind("127.0.0.1:0")
    with listener, socket.create_connection(listener.getsockname()[:2]):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
