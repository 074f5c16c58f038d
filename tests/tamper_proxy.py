"""A man in the middle for mover streams: forwards TCP, flipping one byte on the way.

Used in-process by the unit tests and as a process inside a lab namespace by the
integration tests: ``python -m tests.tamper_proxy --listen HOST:PORT --to HOST:PORT
--flip-at N``. It flips the byte at offset N of each connection's forward direction
(the one that carries the migration stream); N beyond the end alters nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


class TamperProxy:
    def __init__(self, to: tuple[str, int], flip_at: int) -> None:
        self.to = to
        self.flip_at = flip_at
        self.flipped = 0

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._join, host, port)

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer_reader, peer_writer = await asyncio.open_connection(*self.to)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, peer_writer, tamper=True),
                             self._pipe(peer_reader, writer, tamper=False))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    tamper: bool) -> None:
        offset = 0
        try:
            while chunk := await reader.read(1 << 16):
                if tamper and offset <= self.flip_at < offset + len(chunk):
                    altered = bytearray(chunk)
                    altered[self.flip_at - offset] ^= 0x01
                    chunk = bytes(altered)
                    self.flipped += 1
                    print(f"flipped the byte at {self.flip_at}", flush=True)
                offset += len(chunk)
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()


async def _main(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    to_host, _, to_port = args.to.rpartition(":")
    proxy = TamperProxy((to_host, int(to_port)), args.flip_at)
    server = await proxy.serve(host, int(port))
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--flip-at", type=int, required=True)
    asyncio.run(_main(parser.parse_args()))
