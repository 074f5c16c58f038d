"""A client that streams through one TCP connection to an echo service and measures it.

Run it where the client is (``ip netns exec LAB-client python -m
openlpm.lab.echo_client HOST``): it sends a numbered line every 10 ms for ``--seconds``
(or until SIGTERM), checks every echo comes back in order, and prints JSON: lines sent
and echoed, the longest pause between two echoes, and the error that ended the
connection, if one did (a reset).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=float("inf"))
    args = parser.parse_args()
    sock = socket.create_connection((args.host, args.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(0.01)
    sent = echoed = 0
    longest, longest_at, error = 0.0, 0.0, None
    buffer = b""
    started = last_echo = next_send = time.monotonic()
    # Seconds from the start after which nothing more is sent; SIGTERM makes it now.
    stop = [args.seconds]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, time.monotonic() - started))
    try:
        while time.monotonic() - started < stop[0] or echoed < sent:
            now = time.monotonic()
            if now >= next_send and now - started < stop[0]:
                sock.sendall(f"line {sent}\n".encode())
                sent += 1
                next_send += 0.01
            if now - started > stop[0] + 30:
                raise TimeoutError(f"{sent - echoed} lines never came back")
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionResetError("the service closed the connection")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                assert line == f"line {echoed}".encode(), (line, echoed)
                echoed += 1
            now = time.monotonic()
            if now - last_echo > longest:
                longest, longest_at = now - last_echo, last_echo - started
            last_echo = now
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"sent": sent, "echoed": echoed, "longest_pause_ms": longest * 1000,
                      "longest_pause_at_s": longest_at, "error": error}))


if __name__ == "__main__":
    main()
