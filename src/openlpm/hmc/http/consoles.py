"""The console's pages about other consoles.

``/authkeys`` is this console's side of ``mkauthkeys``: it signs in to the remote console
as the user given (over HTTPS, trusting the certificate it meets, which it keeps), has it
issue an API token, and both consoles trust each other's mover authority. ``/peer`` is
what a console that exchanged keys with this one may ask of it, as the user its token
belongs to (the guard applies that user's role here): validating a migration to one of
this console's systems, the few calls of the target's agent and mover that the
migration makes (only for a migration it announced), and the migration's record, kept
here so this console's ``lslparmigr`` shows it too.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from openlpm.authority import fingerprint
from openlpm.clients.agent import AGENT_ROUTES, CONSOLE_ANSWER_LIMIT
from openlpm.clients.mover import MOVER_ROUTES
from openlpm.clients.wire import Route, segment
from openlpm.errors import (
    NotPermitted,
    ObjectNotFound,
    OpenLpmError,
    RequestInvalid,
    SystemUnreachable,
)
from openlpm.hmc.access.guard import require_host_devices_role
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.validate import check_incoming, keys_for
from openlpm.hmc.site.remote import (
    RemoteConsoleClient,
    errors_from,
    met_certificate,
    remote_error,
)
from openlpm.hmc.site.systems import Site
from openlpm.hmc.stores.consoles import Consoles, console_url
from openlpm.hmc.stores.inventory import Inventory
from openlpm.model import (
    IncomingValidation,
    IncomingValidationReport,
    KeyExchange,
    MetCertificate,
    MigrationRecord,
    PartitionProfile,
    PeerTrust,
    RemoteConsole,
)

# The calls a remote console's migration makes of a target agent and mover here: those
# their route tables mark ``peer``, each with the path parameter naming its subject.
PeerCalls = tuple[tuple[Route, re.Pattern[str]], ...]
AGENT_CALLS: PeerCalls = tuple((r, r.pattern()) for r in AGENT_ROUTES if r.peer)
MOVER_CALLS: PeerCalls = tuple((r, r.pattern()) for r in MOVER_ROUTES if r.peer)


# The journal entry naming the user whose token announced another console's migration:
# only that user's calls act for it.
ANNOUNCED = "announced"

keys, peer = APIRouter(), APIRouter(prefix="/peer")


@keys.post("/authkeys", status_code=201)
async def exchange(hmc: ConsoleDep, body: KeyExchange) -> RemoteConsole:
    """``mkauthkeys --ip IP -u USER``: from now on this console may act on the remote
    console as USER, with USER's role there."""
    return await exchange_keys(hmc.site, hmc.consoles, hmc.name, body)


@keys.get("/authkeys/certificate")
async def certificate(ip: str) -> MetCertificate:
    """The certificate console ``ip`` answers with now, unchecked: for the user to
    compare before a key exchange sends a password there."""
    url = console_url(ip)
    met = await met_certificate(url)
    if met is None:
        raise SystemUnreachable(f"Console {ip} at {url} answered with no certificate.",
                                code="HSCLF522")
    return MetCertificate(url=url, fingerprint=fingerprint(met))


@keys.get("/authkeys")
async def remotes(hmc: ConsoleDep) -> list[RemoteConsole]:
    return hmc.consoles.remotes()


@keys.delete("/authkeys", status_code=204)
async def forget(hmc: ConsoleDep, ip: str, user: str) -> None:
    """``mkauthkeys -r --ip IP -u USER``: forget the keys (the remote console's token
    is removed there too when it answers)."""
    known = hmc.consoles.find(ip, user)
    if not known:
        raise ObjectNotFound(f"This console holds no keys for user {user} of console "
                             f"{ip}.", code="HSCLF521")
    found = known[0]
    token, certificate = hmc.consoles.credentials(found)
    client = RemoteConsoleClient(found.url, found.name, token, certificate=certificate)
    try:
        with contextlib.suppress(OpenLpmError):
            await client.sign_out(token)
    finally:
        await client.close()
    hmc.consoles.remove_remote(found.name, user)


@keys.get("/remote-systems")
async def remote_systems(hmc: ConsoleDep, ip: str, user: str | None = None) -> list[str]:
    """The managed systems of console ``ip``, as ``user`` (whose keys this console
    holds) sees them there: the destinations a migration to that console may name."""
    remote = keys_for(hmc.site, ip, user)
    with errors_from(remote):
        return await hmc.site.remote(remote).systems()


@peer.post("/trust")
async def trust(hmc: ConsoleDep, body: PeerTrust) -> PeerTrust:
    """A console exchanging keys with this one: each trusts the other's movers."""
    try:
        fingerprint(body.mover_authority)
    except ValueError:
        raise RequestInvalid(f"Console {body.console} sent a mover authority that is "
                             f"not a certificate.", code="HSCLF524") from None
    hmc.consoles.add_peer(body.console, body.mover_authority)
    await hmc.site.enroll_all_movers()
    return PeerTrust(console=hmc.name, mover_authority=hmc.site.authority.certificate_pem)


@peer.post("/validations")
async def validate(hmc: ConsoleDep, body: IncomingValidation) -> IncomingValidationReport:
    return await check_incoming(hmc.site, hmc.board, body, hmc.name)


@peer.put("/migrations/{migration_id}", status_code=204)
async def migration(hmc: ConsoleDep, migration_id: str, record: MigrationRecord,
                    request: Request) -> None:
    if record.id != migration_id or not record.driven_by:
        raise RequestInvalid("A migration record from another console names its id "
                             "and the console driving it.", code="HSCLF101")
    caller = request.state.user.name
    first = await _accept(hmc.site, record, caller)
    await hmc.board.publish(record.model_copy(update={"target_console": None}))
    if first:
        hmc.inventory.journal(record.id, None, ANNOUNCED, caller)
    await hmc.board.system_changed(record.target)


@peer.api_route("/systems/{system}/agent/{path:path}", methods=["GET", "POST", "DELETE"])
async def agent(hmc: ConsoleDep, system: str, path: str, request: Request) -> Any:
    body, call = await _body(request), _passed_on(path)
    subject = _allowed(AGENT_CALLS, request.method, f"/{path}", "agent")
    caller = request.state.user.name
    if request.method == "POST" and path == "partitions":
        # The rule of POST /systems/{system}/partitions, for a profile sent this way.
        require_host_devices_role(request.state.user, _profile(body))
        _require_creation(hmc.board, system, body, caller)
    elif request.method == "GET" and subject is not None:
        _require_reading(hmc.board, system, subject, caller)
    elif request.method != "GET" and path != "system/storage-check":
        assert subject is not None
        await _require_migration(hmc.board, hmc.site, system, request.method, path, subject,
                                 caller)
    # The largest answer of the calls passed on is a partition's console lines.
    return await hmc.site.agent(system).request(request.method, call, json=body,
                                                params=dict(request.query_params),
                                                limit=CONSOLE_ANSWER_LIMIT)


@peer.api_route("/systems/{system}/movers/{mover}/{path:path}",
                methods=["GET", "POST", "DELETE"])
async def mover(hmc: ConsoleDep, system: str, mover: str, path: str,
                request: Request) -> Any:
    body, call = await _body(request), _passed_on(path)
    subject = _allowed(MOVER_CALLS, request.method, f"/{path}", "mover")
    if path != "mover":
        wanted = subject or _field(body, "migration_id")
        partition = _field(body, "partition") if subject is None else None
        if not any(r.id == wanted and partition in (None, r.partition)
                   for r in _announced(hmc.board, system, request.state.user.name)):
            raise NotPermitted(f"No migration {wanted} to {system} is driven by "
                               f"another console.", code="HSCLF525")
    info = await hmc.site.agent(system).system()
    found = next((m for m in info.movers if m.name == mover), None)
    if found is None:
        raise ObjectNotFound(f"Managed system {system} has no mover service {mover}.",
                             code="HSCLF195")
    return await hmc.site.mover(found.control_url).request(request.method, call, json=body)


async def exchange_keys(site: Site, consoles: Consoles, name: str,
                        body: KeyExchange) -> RemoteConsole:
    url = console_url(body.ip)
    certificate = await met_certificate(url)
    if body.fingerprint is not None:
        _require_fingerprint(body.fingerprint, body.ip, url, certificate)
    client = RemoteConsoleClient(url, body.ip, certificate=certificate)
    try:
        session = await client.sign_in(body.user, body.password)
        try:
            token_id, token = await client.create_token(session, f"console {name}")
            keyed = RemoteConsoleClient(url, body.ip, token, certificate=certificate)
            try:
                theirs = await keyed.trust(PeerTrust(
                    console=name, mover_authority=site.authority.certificate_pem))
            except OpenLpmError:
                await client.remove_token(session, token_id)
                raise
            finally:
                await keyed.close()
        finally:
            with contextlib.suppress(OpenLpmError):
                await client.sign_out(session)
    except OpenLpmError as exc:
        raise remote_error(body.ip, body.user, url, exc) from None
    finally:
        await client.close()
    if theirs.console == name:
        raise RequestInvalid(f"--ip {body.ip} names this console itself; keys are "
                             f"exchanged with another console.", code="HSCLF526")
    remote = consoles.add_remote(theirs.console, url, body.user, token,
                                 theirs.mover_authority, certificate)
    await site.enroll_all_movers()
    return remote


def _require_fingerprint(expected: str, ip: str, url: str, certificate: str | None) -> None:
    """The remote console answered with the certificate ``mkauthkeys --fingerprint``
    names (checked before the password is sent)."""
    met = fingerprint(certificate) if certificate else None
    if met is None or met.replace(":", "") != expected.replace(":", "").upper():
        raise SystemUnreachable(
            f"Console {ip} at {url} answered with "
            f"{f'certificate SHA256 {met}' if met else 'no certificate'}, not the one "
            f"--fingerprint names: keys were not exchanged and no password was sent. "
            f"Find out why (another machine at that address?), or give the fingerprint "
            f"of the console.crt of its 'hmc serve --tls-dir'.", code="HSCLF528")


async def _body(request: Request) -> Any:
    """The JSON body passed on, or None."""
    if not await request.body():
        return None
    try:
        return await request.json()
    except ValueError:
        raise RequestInvalid("The request body is not JSON.", code="HSCLF101") from None


def _passed_on(path: str) -> str:
    """The path of a call passed on to an agent or mover, each of its segments encoded
    again: the one checked by ``_allowed`` is the one the agent or mover receives."""
    return "".join(f"/{segment(part)}" for part in path.split("/"))


def _profile(body: Any) -> PartitionProfile:
    """The profile of a partition a call to an agent creates (its ``profile``)."""
    try:
        return PartitionProfile.model_validate(body.get("profile") if isinstance(body, dict)
                                               else None)
    except ValidationError as exc:
        raise RequestInvalid(f"The profile sent is not valid: {exc.errors()[0]['msg']}.",
                             code="HSCLF101") from None


def _field(body: Any, *path: str) -> str:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return str(body or "")


def _allowed(calls: PeerCalls, method: str, path: str, what: str) -> str | None:
    """The call's subject (a partition or migration) if another console may make it."""
    for route, pattern in calls:
        match = pattern.fullmatch(path)
        if route.method == method and match:
            return match.group(route.subject) if route.subject else None
    raise NotPermitted(f"Another console may not {method} {path} of a {what} here: only "
                       f"the calls of a migration to this console's systems.",
                       code="HSCLF525")


async def _accept(site: Site, record: MigrationRecord, caller: str) -> bool:
    """Take another console's migration record; True for the first one of a migration.

    The first one says which partition comes from which system to which of this
    console's systems, and that partition must not be here yet; later ones come from
    the same user (the other console's token) and may not change those three.

    Raises NotPermitted otherwise: a record is what lets the other console act on a
    partition here, so it may never name one that is not that migration's.
    """
    site.inventory.system(record.target)
    try:
        known = site.inventory.migration(record.id)
    except ObjectNotFound:
        known = None
    if known is not None:
        if known.driven_by is None:
            raise NotPermitted(f"Migration {record.id} is this console's own.",
                               code="HSCLF525")
        if _announcer(site.inventory, record.id) != caller:
            raise NotPermitted(f"Migration {record.id} was announced by another user: "
                               f"only its console changes its record.", code="HSCLF525")
        if (known.partition, known.source, known.target) != \
                (record.partition, record.source, record.target):
            raise NotPermitted(f"Migration {record.id} moves {known.partition} from "
                               f"{known.source} to {known.target}; another console may not "
                               f"change that.", code="HSCLF525")
        return False
    if record.source in {entry.name for entry in site.inventory.systems()}:
        raise NotPermitted(f"Migration {record.id} comes from {record.source}, a system "
                           f"of this console: another console drives migrations to this "
                           f"console's systems only.", code="HSCLF525")
    if any(p.name == record.partition for p in await site.agent(record.target).partitions()):
        raise NotPermitted(f"Managed system {record.target} already has a partition "
                           f"{record.partition}: another console's migration may not name "
                           f"it.", code="HSCLF525")
    return True


def _announcer(inventory: Inventory, migration_id: str) -> str | None:
    """The user whose token announced another console's migration here."""
    return next((entry.detail for entry in inventory.journal_of(migration_id)
                 if entry.phase == ANNOUNCED), None)


def _announced(board: MigrationBoard, system: str, caller: str,
               partition: str | None = None) -> list[MigrationRecord]:
    """The migrations to ``system`` that ``caller`` announced for another console."""
    return [r for r in board.inventory.migrations(system, partition)
            if r.driven_by and r.target == system
            and _announcer(board.inventory, r.id) == caller]


def _require_reading(board: MigrationBoard, system: str, partition: str,
                     caller: str) -> None:
    """Another console reads a partition here (its profile, runtime, console) only
    when one of its migrations moves that partition to this system."""
    if not _announced(board, system, caller, partition):
        raise NotPermitted(f"No migration of {partition} to {system} that another console "
                           f"announced here: its details are this console's.",
                           code="HSCLF525")


def _require_creation(board: MigrationBoard, system: str, body: Any, caller: str) -> None:
    """Another console creates a partition here only as the copy its migration in
    flight makes: that migration's partition, waiting for that migration."""
    partition, waiting = _field(body, "profile", "name"), _field(body, "incoming_migration")
    if not any(r.id == waiting and not r.state.finished
               for r in _announced(board, system, caller, partition)):
        raise NotPermitted(f"No migration of {partition} to {system} that another console "
                           f"drives is in progress for this call.", code="HSCLF525")


async def _require_migration(board: MigrationBoard, site: Site, system: str,
                             method: str, path: str, partition: str, caller: str) -> None:
    """Another console changes a partition here only for its migration to this system:
    the copy still waiting for that migration (start, finish or remove it); while the
    migration is in flight, its console lines; after, to settle it (``migrlpar -o r``),
    keep the partition."""
    ours = _announced(board, system, caller, partition)
    if ours and method == "POST" and path.endswith("/console") \
            and any(not r.state.finished for r in ours):
        return
    if ours and method == "POST" and path.endswith("/keep"):
        return
    if ours and (method == "DELETE" or path.endswith("/incoming")
                 or path.endswith("/incoming/finish")):
        with contextlib.suppress(OpenLpmError):
            waiting = (await site.agent(system).runtime(partition)).incoming_migration
            if waiting is not None and waiting in {r.id for r in ours}:
                return
    raise NotPermitted(f"No migration of {partition} to {system} that another console "
                       f"drives is in progress for this call.", code="HSCLF525")
