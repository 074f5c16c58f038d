"""What the console's routers are given: the console (``hmc/console.py``).

``create_app`` keeps its one ``Console`` in ``app.state.console``; a route asks for it by
a parameter typed ``ConsoleDep`` (``hmc: ConsoleDep``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from openlpm.hmc.console import Console


def console(request: Request) -> Console:
    """The console the app serving ``request`` was made for."""
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console)]
