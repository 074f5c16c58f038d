"""The managed systems this console knows, one client for each of their agents, its SAN,
and the consoles it exchanged keys with."""

from __future__ import annotations

import logging
import ssl
from urllib.parse import urlsplit

from openlpm import __version__, versions
from openlpm.authority import CertificateAuthority, Use, fingerprint
from openlpm.clients.agent import AgentClient
from openlpm.clients.mover import MoverClient
from openlpm.clients.san import SanClient
from openlpm.clients.wire import CONSOLE_ONLY_KEEPALIVE_S, EnrollingClient, ServiceClient
from openlpm.errors import (
    NotPermitted,
    ObjectNotFound,
    OpenLpmError,
    RequestInvalid,
    WrongState,
    partition_not_found,
)
from openlpm.hmc.site.remote import RemoteConsoleClient
from openlpm.hmc.stores.consoles import Consoles
from openlpm.hmc.stores.inventory import Inventory
from openlpm.hmc.stores.san import SanStore, StoredSan
from openlpm.model import (
    EnrollmentRequest,
    MoverInfo,
    Partition,
    RemoteConsole,
    SanConnection,
    SanConnectionState,
    SanSettings,
    SystemInfo,
    service_url,
)
from openlpm.trust import (
    CONSOLE_PROOF,
    SERVICE_PROOF,
    UNPROVEN_SERIES,
    enrollment_proof,
    proof_holds,
)

log = logging.getLogger("openlpm.hmc.site.systems")
MOVER_QUESTION_TIMEOUT_S = 5.0
# A SAN that does not answer within this long stops the step that asked it.
SAN_TIMEOUT_S = 10.0
# A listing asks the SAN how it is; a silent one is shown unreachable this soon.
SAN_STATUS_TIMEOUT_S = 5.0


class Site:
    def __init__(self, inventory: Inventory, authority: CertificateAuthority,
                 agent_authority: CertificateAuthority | None = None,
                 tls: ssl.SSLContext | None = None, consoles: Consoles | None = None,
                 name: str = "", sans: SanStore | None = None) -> None:
        self.inventory = inventory
        self.name = name
        self.authority = authority
        self.consoles = consoles
        self.agent_authority = agent_authority
        # How the console proves itself to its agents, and checks they are its own.
        self.tls = tls
        self.sans = sans
        self._stored_san = sans.load() if sans else None
        self._san = self._san_client(self._stored_san.url) if self._stored_san else None
        self._agents: dict[str, AgentClient] = {}
        # Systems last seen running a release this console does not manage, and why.
        self._skews: dict[str, WrongState] = {}
        self._movers: dict[str, MoverClient] = {}
        self._migration_movers: dict[str, MoverClient] = {}
        self._remotes: dict[tuple[str, str], RemoteConsoleClient] = {}

    def agent(self, system: str) -> AgentClient:
        """The client of ``system``'s agent, for any operation.

        Raises ObjectNotFound for a system this console does not manage, WrongState
        (HSCLF550, HSCLF551) when its agent or a mover was last seen running a release
        this console does not manage (``versions.py``).
        """
        refusal = self._skews.get(system)
        if refusal is not None:
            raise refusal
        return self.any_agent(system)

    def any_agent(self, system: str) -> AgentClient:
        """The client of ``system``'s agent whatever release it runs: to ask what it is."""
        entry = self.inventory.system(system)
        client = self._agents.get(system)
        if client is None or client.base_url != entry.agent_url:
            client = AgentClient(entry.agent_url, system, tls=self.tls_for(entry.agent_url),
                                 keepalive_s=CONSOLE_ONLY_KEEPALIVE_S)
            self._agents[system] = client
        return client

    def note_versions(self, system: str, info: SystemInfo) -> WrongState | None:
        """Remember whether this console manages the releases ``info`` (the system's
        answer just now) reports: ``agent`` refuses the system's operations while it
        does not. Returns the refusal."""
        refusal = versions.system_skew(info, __version__)
        if refusal is None:
            self._skews.pop(system, None)
        else:
            self._skews[system] = refusal
        return refusal

    async def forget_agent(self, system: str) -> None:
        """Close the client of a system no longer managed."""
        self._skews.pop(system, None)
        client = self._agents.pop(system, None)
        if client is not None:
            await client.close()

    def tls_for(self, url: str) -> ssl.SSLContext | None:
        return self.tls if url.startswith("https://") else None

    async def enroll_agent(self, name: str, agent_url: str, code: str,
                           unproven: bool = False) -> None:
        """Give a new system's agent a certificate from this console's authority, after
        which it answers this console only. Its own certificate cannot be checked yet:
        the code, which only its host had, vouches for this exchange both ways without
        travelling (``_enroll``). ``unproven``: an agent that gives no proof (a release
        before 0.2) is sent the code itself, as that release expects."""
        agent = AgentClient(agent_url, name, tls=False)
        try:
            await self._enroll(agent, name, agent_url, code, unproven)
        finally:
            await agent.close()

    async def _enroll(self, service: EnrollingClient, name: str, url: str,
                      code: str, unproven: bool = False) -> None:
        """Certify an agent, a mover service or the SAN for server use only, for the
        address it answers on; from then on it answers this console's client identity
        only. Nothing is issued before the service proved it knows ``code``; unless
        ``unproven`` allows a service that gives no proof at all (never one whose proof
        is wrong), which then gets the code itself.

        Raises WrongState (HSCLF509) without an authority or TLS, (HSCLF507) for a
        service a console enrolled already; NotPermitted (HSCLF506) for a service whose
        proof does not match ``code``, (HSCLF558) for one that gives none.
        """
        if self.agent_authority is None:
            raise WrongState("This console has no authority for systems.", code="HSCLF509")
        if not url.startswith("https://"):
            raise WrongState(f"{service.what} at {url} runs without TLS (--insecure), so "
                             f"it has nothing to enroll: add it without an enrollment code.",
                             code="HSCLF509")
        found = await service.enrollment()
        _require_proof(found, service.what, url, code, unproven)
        authority = self.agent_authority.certificate_pem
        certificate = self.agent_authority.issue(
            found.request, name, addresses=(urlsplit(url).hostname or "",), use=Use.SERVER)
        if found.proof:
            await service.enroll(enrollment_proof(code, CONSOLE_PROOF, certificate, authority),
                                 certificate, authority)
            return
        log.warning("%s at %s gives no proof that it knows its enrollment code (a release "
                    "before 0.2): its code was sent to it as that release expects, so "
                    "whoever answered there has it", service.what, url)
        await service.enroll_with_code(code, certificate, authority)

    @property
    def san(self) -> SanClient:
        """The site's SAN, whose LUNs partitions reach through virtual FC and SCSI.

        Raises WrongState when the console has none.
        """
        if self._san is None:
            raise WrongState("This console has no SAN: connect it with 'mksysconn --ip "
                             "ADDRESS -r san --passwd CODE' to manage LUNs and migrate "
                             "partitions with virtual FC or SCSI adapters.",
                             code="HSCLF610")
        return self._san

    @property
    def san_url(self) -> str | None:
        return self._stored_san.url if self._stored_san else None

    def _san_client(self, url: str) -> SanClient:
        return SanClient(url, None, timeout=SAN_TIMEOUT_S, tls=self.tls_for(url))

    async def connect_san(self, url: str, code: str | None) -> SanConnection:
        """Make the SAN at ``url`` this console's: enroll it with ``code`` (an https SAN
        this console enrolled already needs none), learn its name, version and hosts
        key, keep them in the inventory, and give every managed system's agent the SAN.
        A system that does not take it is named in the answer (and the log).

        Raises RequestInvalid for a URL that is not http(s)://HOST:PORT, WrongState
        while another SAN is connected or without a SAN store, the enrollment's errors,
        and SystemUnreachable when the SAN does not answer (or with a certificate of
        another authority: not enrolled by this console, and no code given).
        """
        url = _checked_san_url(url)
        if self.sans is None:
            raise WrongState("This console keeps no SAN connections.", code="HSCLF628")
        if self.san_url not in (None, url):
            raise WrongState(f"This console is connected to the SAN at {self.san_url}: "
                             f"remove that connection first ('rmsysconn -o remove --ip "
                             f"ADDRESS -r san').", code="HSCLF628")
        if code:
            enrolling = SanClient(url, None, timeout=SAN_TIMEOUT_S, tls=False)
            try:
                await self._enroll(enrolling, f"SAN {urlsplit(url).hostname}", url, code)
            finally:
                await enrolling.close()
        client = self._san_client(url)
        try:
            info = await client.info()
            versions.require_managed(f"SAN {info.name}", info.version, __version__)
            stored = StoredSan(url, info.name, info.version, await client.hosts_key())
        except BaseException:
            await client.close()
            raise
        self.sans.save(stored)
        if self._san is not None:
            await self._san.close()
        self._san, self._stored_san = client, stored
        missing = [entry.name for entry in self.inventory.systems()
                   if not await self._gave_san(entry.name)]
        return self._connection(stored, tuple(missing))

    def san_connection(self) -> SanConnection | None:
        """The SAN this console is connected to, as it last answered."""
        return self._connection(self._stored_san) if self._stored_san else None

    async def san_status(self) -> SanConnection | None:
        """The SAN this console is connected to, as it answers now: unreachable when it
        does not, and its version as it says it now (kept, after an upgrade)."""
        stored, client = self._stored_san, self._san
        if stored is None or client is None or self.sans is None:
            return None
        try:
            info = await client.info(timeout=SAN_STATUS_TIMEOUT_S)
        except OpenLpmError as exc:
            log.warning("SAN %s at %s does not answer: %s", stored.name, stored.url,
                        exc.message)
            return self._connection(stored).model_copy(
                update={"state": SanConnectionState.UNREACHABLE})
        if info.version != stored.version:
            stored = StoredSan(stored.url, stored.name, info.version, stored.hosts_key)
            self.sans.save(stored)
            self._stored_san = stored
        return self._connection(stored)

    async def disconnect_san(self) -> None:
        """Forget the SAN; the agents keep reaching it (their partitions' disks stay
        open) until another SAN is connected.

        Raises ObjectNotFound without one, WrongState while a migration runs (its
        storage steps map and unmap LUNs on it).
        """
        if self._stored_san is None or self.sans is None:
            raise ObjectNotFound("This console is connected to no SAN.", code="HSCLF629")
        running = [r.partition for r in self.inventory.migrations() if not r.state.finished]
        if running:
            raise WrongState(f"Migrations of {', '.join(running)} are in progress, and "
                             f"their storage steps use the SAN: wait for them to end (or "
                             f"stop them) before removing the SAN connection.",
                             code="HSCLF630")
        self.sans.forget()
        if self._san is not None:
            await self._san.close()
        self._san = self._stored_san = None

    async def give_san(self, system: str) -> None:
        """Give ``system``'s agent this console's SAN: its address, hosts key, and the
        authority that certified it. Nothing to give without a SAN.

        Raises WrongState (HSCLF632) for an agent that serves plain HTTP when the SAN
        has a hosts key (it would travel in clear text to whoever answers there), the
        agent's errors, SystemUnreachable when it does not answer.
        """
        if self._stored_san is None:
            return
        agent_url = self.inventory.system(system).agent_url
        if self._stored_san.hosts_key and not agent_url.startswith("https://"):
            raise WrongState(
                f"Managed system {system}'s agent serves plain HTTP (--insecure) at "
                f"{agent_url}: the SAN's hosts key is not sent there in clear text. Serve "
                f"the agent over TLS and add it with mksysconn to give it the SAN.",
                code="HSCLF632")
        url = self._stored_san.url
        https = url.startswith("https://")
        await self.agent(system).give_san(SanSettings(
            url=url, hosts_key=self._stored_san.hosts_key,
            authority=self.agent_authority.certificate_pem
            if https and self.agent_authority else None))

    async def _gave_san(self, system: str) -> bool:
        try:
            await self.give_san(system)
        except OpenLpmError as exc:
            log.warning("%s: its agent did not take the SAN (%s); connect the SAN again "
                        "once it answers", system, exc.message)
            return False
        return True

    def _connection(self, stored: StoredSan,
                    systems_without: tuple[str, ...] = ()) -> SanConnection:
        return SanConnection(url=stored.url, name=stored.name, version=stored.version,
                             systems_without=systems_without)

    def mover(self, control_url: str) -> MoverClient:
        """A client for quick questions to a mover service (a migration opens its own)."""
        if control_url not in self._movers:
            self._movers[control_url] = self.mover_client(control_url,
                                                          MOVER_QUESTION_TIMEOUT_S)
        return self._movers[control_url]

    def mover_client(self, control_url: str, timeout: float = 30.0) -> MoverClient:
        """A new client of a mover service, as this console's identity."""
        return MoverClient(control_url, timeout=timeout, tls=self.tls_for(control_url),
                           keepalive_s=CONSOLE_ONLY_KEEPALIVE_S)

    def migration_mover(self, control_url: str) -> MoverClient:
        """The client the migrations through a mover service share: its connection is
        kept open between them, so that a migration's step 3 pays no TLS handshake."""
        if control_url not in self._migration_movers:
            self._migration_movers[control_url] = self.mover_client(control_url)
        return self._migration_movers[control_url]

    async def enroll_movers(self, system: str) -> tuple[MoverInfo, ...]:
        """Issue each mover service of ``system`` a certificate for its encrypted streams;
        it trusts this console's movers and those of the consoles it exchanged keys with.
        A mover no console enrolled yet is first enrolled with the code its agent, which
        this console enrolled, hands over."""
        agent = self.agent(system)
        info = await agent.system()
        codes = await agent.mover_enrollment_codes()
        trusted = self.consoles.peer_authorities() if self.consoles else ()
        enrolled = []
        for mover in info.movers:
            if mover.name in codes:
                fresh = MoverClient(mover.control_url, timeout=MOVER_QUESTION_TIMEOUT_S,
                                    tls=False)
                # The agent, which answers this console only, says what the mover
                # runs: one of a release that gives no proof gets its code itself.
                unproven = versions.series(mover.version) in UNPROVEN_SERIES
                try:
                    await self._enroll(fresh, mover.name, mover.control_url,
                                       codes[mover.name], unproven)
                finally:
                    await fresh.close()
            client = self.mover(mover.control_url)
            certificate = self.authority.issue(await client.certificate_request(), mover.name)
            enrolled.append(await client.install_certificate(
                certificate, self.authority.certificate_pem, trusted))
        return tuple(enrolled)

    async def enroll_all_movers(self) -> None:
        """After a key exchange: every mover learns the new peer's authority. A system
        that does not answer now is left as it was (enroll it again later)."""
        for entry in self.inventory.systems():
            try:
                await self.enroll_movers(entry.name)
            except OpenLpmError as exc:
                log.warning("%s: its movers do not trust the consoles exchanged with yet "
                            "(%s); run 'openlpm mover enroll -m %s'", entry.name,
                            exc.message, entry.name)

    def trusted_authorities(self) -> frozenset[str]:
        """Fingerprints of the mover authorities this console's movers trust."""
        peers = self.consoles.peer_authorities() if self.consoles else ()
        return frozenset({self.authority.fingerprint, *(fingerprint(p) for p in peers)})

    def remote_named(self, name: str) -> RemoteConsoleClient:
        """A client of console ``name``, with the keys of the first of its users this
        console holds keys for.

        Raises ObjectNotFound when it holds none (any more).
        """
        found = self.consoles.find(name, None) if self.consoles else []
        if not found:
            raise ObjectNotFound(f"This console holds no keys for console {name} (any "
                                 f"more): exchange them with 'mkauthkeys --ip {name} -u "
                                 f"USER'.", code="HSCLF520")
        return self.remote(found[0])

    def remote(self, remote: RemoteConsole) -> RemoteConsoleClient:
        """A client of a console this one exchanged keys with, signed in as its user."""
        assert self.consoles is not None
        key = (remote.name, remote.user)
        client = self._remotes.get(key)
        if client is None or client.base_url != remote.url:
            token, certificate = self.consoles.credentials(remote)
            client = RemoteConsoleClient(remote.url, remote.name, token,
                                         certificate=certificate)
            self._remotes[key] = client
        return client

    async def partition(self, system: str, name: str | None = None,
                        lpar_id: int | None = None) -> Partition:
        """Find a partition of ``system`` by name or id."""
        for partition in await self.agent(system).partitions():
            if partition.name == name or (lpar_id is not None and partition.lpar_id == lpar_id):
                return partition
        if name is not None:
            raise partition_not_found([name], system)
        raise ObjectNotFound(f"No partition with id {lpar_id} was found on managed system "
                             f"{system}.", code="HSCLF164")

    async def close(self) -> None:
        clients: list[ServiceClient] = [*self._agents.values(), *self._movers.values(),
                                        *self._migration_movers.values(),
                                        *self._remotes.values()]
        for client in [*clients, *([self._san] if self._san else [])]:
            await client.close()
        self._agents.clear()
        self._movers.clear()
        self._migration_movers.clear()
        self._remotes.clear()


def _require_proof(found: EnrollmentRequest, what: str, url: str, code: str,
                   unproven: bool) -> None:
    """Raises unless the service that answered ``found`` at ``url`` proved it knows
    ``code`` (or, ``unproven``, gave no proof at all); see ``Site._enroll``."""
    if found.enrolled:
        raise WrongState(f"{what} at {url} answers another console already; to give it "
                         f"to this one, empty its TLS directory, restart it and use its "
                         f"new code.", code="HSCLF507")
    if not found.proof and not unproven:
        raise NotPermitted(f"{what} at {url} gives no proof that it knows the enrollment "
                           f"code: it runs a release before 0.2 (upgrade it), or someone "
                           f"else answers at {url}. Nothing was sent to it.",
                           code="HSCLF558")
    if found.proof and not proof_holds(found.proof, code, SERVICE_PROOF, found.request):
        raise NotPermitted(f"Wrong enrollment code for {what}: the service at {url} does "
                           f"not know this code. Check the code, or someone else answers "
                           f"at {url}. Nothing was sent to it.", code="HSCLF506")


def _checked_san_url(url: str) -> str:
    """Raises RequestInvalid for anything but http(s)://HOST:PORT."""
    try:
        return service_url(url)
    except ValueError:
        raise RequestInvalid(f"{url} does not name a SAN: give http(s)://HOST:PORT of "
                             f"its control API.", code="HSCLF627") from None
