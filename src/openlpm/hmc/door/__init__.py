"""The SSH door: ``ssh USER@console CMD`` runs the console's HMC commands as that user.

The console serves SSH itself (asyncssh) on ``hmc serve --ssh-listen``. A client signs
in with the console user's password (``access/signin.py``: throttled, audited) or one of
the keys the user added with ``mkauthkeys -a``; each command line it sends is split and
checked against the console's restricted set (``commands.py``), then run as a child
process that reaches the console's REST API as that user (``runner.py``), so the API's
role checks and audit apply, and the door audits the line itself.

``commands.py``: which lines may run, split as argv. ``hostkey.py``: the host key, made
once. ``runner.py``: one command as a child process, wired to a channel. ``session.py``:
an exec request or an interactive session. ``server.py``: sign-in and limits, and
``Door``, the listener as the console's lifespan runs it. ``local_api.py``: the console's
API on a private Unix socket, for the children.
"""
