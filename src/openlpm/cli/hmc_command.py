"""Running an HMC-compatible command against the console (its words, from the command
line or the SSH door, parsed by ``hmc_syntax.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from openlpm.cli.hmc_syntax import door_words, refuse_host_files
from openlpm.cli.runner import run_command
from openlpm.clients.console import HmcClient
from openlpm.clients.console_address import hmc_url

Command = Callable[[argparse.Namespace, HmcClient], Coroutine[Any, Any, int | None]]


def run_hmc_command(build: Callable[[], argparse.ArgumentParser], command: Command,
         argv: Sequence[str] | None) -> int:
    words = argv if argv is not None else door_words()
    through_door = argv is None and words is not None

    async def body() -> int | None:
        args = build().parse_args(words)
        if through_door:
            refuse_host_files(args)
        async with HmcClient(hmc_url()) as hmc:
            return await command(args, hmc)

    return run_command(body)


def run_parsed(command: Command, args: argparse.Namespace) -> int | None:
    """``command`` of words already parsed (``migrlpar.py`` passes on what its quick path
    does not take); its errors are the caller's to report."""
    import asyncio

    async def body() -> int | None:
        async with HmcClient(hmc_url()) as hmc:
            return await command(args, hmc)

    return asyncio.run(body())
