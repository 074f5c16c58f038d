// The openlpm web console: the HMC's Servers → partition → Operations → Mobility path.
// It uses the console's public REST API (the one the CLI uses) and its Server-Sent
// Events; it polls nothing.

const STEPS = ["Profile to target", "Storage on target", "Mover services", "Migrate",
  "Resume on target", "Storage off source", "Profile off source"];
const FINISHED = ["Migration Complete", "Migration Failed", "Migration Stopped"];

const main = document.getElementById("main");
const state = { systems: [], migrations: new Map(), events: null, progress: null, notice: null,
  addForm: null };

// -- small helpers ---------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || "";
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const gb = (mb) => (mb >= 1024 ? `${(mb / 1024).toFixed(1)} GiB` : `${mb} MB`);
const when = (t) => new Date(t * 1000).toLocaleString();

function statePill(text) {
  const kind = /^Not /.test(text) ? "idle"
    : /Running|Operating|Complete|passes/.test(text) ? "ok"
    : /Failed|No Connection|Mismatch|Error/.test(text) ? "bad"
      : /Migrating|Progress|Starting|Recovering/.test(text) ? "busy"
        : /maintenance|Stopped/i.test(text) ? "warn" : "idle";
  return h("span", { class: `pill ${kind}` }, text);
}

function describe(record) {
  if (!record.step) return record.state;
  const phase = record.step_phase ? ` (${record.step_phase})` : "";
  return `step ${record.step}/7 ${STEPS[record.step - 1]}${phase}`;
}

function showError(error) {
  main.prepend(h("p", { class: "error", role: "alert" },
    error.code ? `${error.code} ${error.message}` : error.message));
}

// -- signing in ------------------------------------------------------------------------

async function start() {
  try {
    const session = await api("GET", "/session");
    signedIn(session);
  } catch (error) {
    if (error.status === 401) signInPage(error.code === "HSCLF503" ? error.message : "");
    else showError(error);
  }
}

function signInPage(problem) {
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
  const message = h("p", { class: "error", role: "alert" }, problem);
  const form = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        const session = await api("POST", "/session",
          { user: data.get("user"), password: data.get("password") });
        signedIn(session);
      } catch (error) {
        message.textContent = `${error.code} ${error.message}`;
      }
    },
  },
  h("label", {}, "User", h("input", { name: "user", value: "hscroot", autocomplete: "username", required: true })),
  h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, autofocus: true })),
  message,
  h("button", { type: "submit", class: "primary" }, "Sign in"));
  main.replaceChildren(h("section", { class: "card signin" },
    h("h1", {}, "Sign in"), h("p", { class: "muted" }, "Hardware Management Console"), form));
  form.querySelector("input[name=password]").focus();
}

function signedIn(session) {
  // The role only says what to expect: the console itself refuses what it does not allow.
  document.getElementById("who").textContent = `${session.user} (${session.role})`;
  document.getElementById("nav").hidden = false;
  document.getElementById("session").hidden = false;
  listen();
  if (!location.hash || location.hash === "#/") location.hash = "#/servers";
  else route();
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await api("DELETE", "/session");
  if (state.events) state.events.close();
  state.events = null;
  location.hash = "";
  signInPage("");
});

// -- live updates ----------------------------------------------------------------------

function listen() {
  if (state.events) return;
  const live = document.getElementById("live");
  const events = new EventSource("/events");
  state.events = events;
  events.onopen = () => live.classList.remove("down");
  events.onerror = () => live.classList.add("down");
  events.addEventListener("migration", (event) => {
    const record = JSON.parse(event.data);
    state.migrations.set(record.id, record);
    refreshFor([record.source, record.target], record);
  });
  events.addEventListener("system", (event) => refreshFor([JSON.parse(event.data).system]));
  events.addEventListener("resync", () => route());
}

let pending = null;
function refreshFor(systems, record) {
  const view = currentView();
  const wanted = view.name === "servers" || view.name === "migrations"
    || (["system", "partition"].includes(view.name) && systems.includes(view.system));
  if (!wanted) return;
  // A burst of changes (a migration publishes several a second) redraws once.
  if (view.name === "system" && record && !FINISHED.includes(record.state)
      && updateMigrationCell(record)) return;
  clearTimeout(pending);
  pending = setTimeout(route, 150);
}

function updateMigrationCell(record) {
  const cell = main.querySelector(`[data-migration-of="${CSS.escape(record.partition)}"]`);
  if (!cell) return false;
  cell.replaceChildren(migrationCell(record));
  return true;
}

// -- routing ---------------------------------------------------------------------------

function currentView() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "systems" && parts[1] && parts[2] === "partitions" && parts[3]) {
    return { name: "partition", system: parts[1], partition: parts[3] };
  }
  if (parts[0] === "systems" && parts[1]) return { name: "system", system: parts[1] };
  if (parts[0] === "migrations") return { name: "migrations" };
  return { name: "servers" };
}

let routes = 0;
async function route() {
  const view = currentView();
  const mine = ++routes;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.toggleAttribute("aria-current", false);
    if (link.dataset.nav === (["system", "partition"].includes(view.name) ? "servers" : view.name)) {
      link.setAttribute("aria-current", "page");
    }
  }
  try {
    const page = view.name === "partition" ? await partitionPage(view.system, view.partition)
      : view.name === "system" ? await systemPage(view.system)
      : view.name === "migrations" ? await migrationsPage()
      : await serversPage();
    // A route still loading when the next began (a refresh of the page just left) must
    // not draw over the newer one.
    if (mine === routes) main.replaceChildren(...page);
  } catch (error) {
    if (mine !== routes) return;
    if (error.status === 401) signInPage("Your session ended; sign in again.");
    else showError(error);
  }
}
window.addEventListener("hashchange", route);

// -- Servers ---------------------------------------------------------------------------

async function serversPage() {
  state.systems = await api("GET", "/systems");
  const rows = state.systems.map((s) => {
    const info = s.info;
    const movers = info ? info.movers.map((m) => `${m.name}${m.certificate ? " 🔒" : ""}`).join(", ") : "";
    return h("tr", {},
      h("td", {}, h("a", { href: `#/systems/${encodeURIComponent(s.name)}` }, s.name)),
      h("td", { title: s.message || "" }, statePill(info && info.maintenance ? "Operating (maintenance)" : s.state)),
      h("td", { class: "num" }, info ? `${info.free_cpus} / ${info.cpus}` : "–"),
      h("td", { class: "num" }, info ? `${gb(info.free_memory_mb)} / ${gb(info.memory_mb)}` : "–"),
      h("td", {}, info ? info.accel.toUpperCase() : "–"),
      h("td", {}, movers || "–"),
      h("td", {}, info ? info.agent_version : "–"),
      h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Remove ${s.name}`,
        onclick: () => removeSystem(s.name) }, "Remove")));
  });
  return [
    h("h1", {}, "Servers"),
    h("p", { class: "crumbs" }, "Systems Management › Servers"),
    state.notice,
    h("section", { class: "card" },
      rows.length ? h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "State"),
          h("th", { class: "num" }, "Processors free / installed"),
          h("th", { class: "num" }, "Memory free / installed"), h("th", {}, "Accelerator"),
          h("th", {}, "Mover services"), h("th", {}, "Version"), h("th", {}, ""))),
        h("tbody", {}, rows))
        : h("p", { class: "empty" }, "This console manages no system yet.")),
    addSystemForm()];
}

// The HMC's "Add managed system": the agent's address, and its enrollment code unless
// this console enrolled it before (mksysconn). One form, kept across the page's live
// redraws, so what the user is typing survives them.
function addSystemForm() {
  if (!state.addForm) state.addForm = newAddSystemForm();
  return state.addForm;
}

function newAddSystemForm() {
  const form = h("form", {
    id: "add-system", class: "card inline-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const port = data.get("port");
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        const added = await api("POST", "/sysconns", {
          ip: data.get("ip").trim(), resource_type: "sys",
          password: data.get("code") || null, port: port ? Number(port) : null,
        });
        notify("status", `Added ${added.name} at ${added.ipaddr} (${added.state}).`);
        form.reset();
      } catch (error) {
        notify("alert", `${error.code} ${error.message}`);
      } finally {
        button.disabled = false;
      }
      route();
    },
  },
  h("h2", {}, "Add system"),
  h("label", {}, "IP address or host name", h("input", { name: "ip", required: true, autocomplete: "off" })),
  h("label", {}, "Enrollment code (not needed for a system this console enrolled before)",
    h("input", { name: "code", type: "password", autocomplete: "off" })),
  h("label", {}, "Port", h("input", { name: "port", type: "number", min: 1, max: 65535, placeholder: "8470" })),
  h("button", { type: "submit", class: "primary" }, "Add"));
  return form;
}

async function removeSystem(name) {
  if (!window.confirm(`Stop managing ${name}? Its partitions keep running; add it again to see them.`)) return;
  try {
    await api("DELETE", `/systems/${encodeURIComponent(name)}`);
    notify("status", `Removed ${name}.`);
  } catch (error) {
    notify("alert", `${error.code} ${error.message}`);
  }
  route();
}

// What the last add or remove did, shown on the Servers page until the next one.
function notify(role, text) {
  state.notice = h("p", { class: role === "alert" ? "error" : "notice", role }, text);
}

// -- One system: its partitions and its event log --------------------------------------

async function systemPage(name) {
  const [system, partitions, migrations] = await Promise.all([
    api("GET", `/systems/${encodeURIComponent(name)}`),
    api("GET", `/systems/${encodeURIComponent(name)}/partitions`),
    api("GET", `/migrations?system=${encodeURIComponent(name)}`)]);
  if (state.systems.length === 0) state.systems = await api("GET", "/systems");
  for (const record of migrations) {
    if (!FINISHED.includes(record.state)) state.migrations.set(record.id, record);
  }
  const rows = partitions.map((p) => {
    const profile = p.partition.profile;
    const live = p.migration_id ? state.migrations.get(p.migration_id) : null;
    return h("tr", {},
      h("td", {}, h("a", { href: `#/systems/${encodeURIComponent(name)}/partitions/${encodeURIComponent(profile.name)}` }, profile.name)),
      h("td", { class: "num" }, p.partition.profile.lpar_id ?? "–"),
      h("td", {}, statePill(p.partition.state)),
      h("td", { class: "num" }, profile.desired_procs),
      h("td", { class: "num" }, gb(profile.desired_mem)),
      h("td", {}, name),
      h("td", { "data-migration-of": profile.name },
        live ? migrationCell(live) : statePill(p.migration_state)),
      h("td", {}, operationsMenu(name, p)));
  });
  const info = system.info;
  return [
    h("h1", {}, name),
    h("p", { class: "crumbs" }, h("a", { href: "#/servers" }, "Servers"), " › ", name),
    h("section", { class: "card" },
      h("header", {}, h("h2", {}, "System"), statePill(system.state),
        info && info.maintenance ? statePill("maintenance") : null,
        h("div", { class: "actions" },
          h("button", { type: "button", id: "evacuate", onclick: () => openEvacuation(name) },
            "Evacuate…"))),
      info ? h("p", {}, `${info.free_cpus} of ${info.cpus} processors and ${gb(info.free_memory_mb)} `
        + `of ${gb(info.memory_mb)} memory free · QEMU ${info.qemu_version} (${info.accel}) · `
        + `movers: ${info.movers.map((m) => m.name).join(", ") || "none"}`)
        : h("p", { class: "error" }, system.message || "No connection")),
    h("section", { class: "card" },
      h("header", {}, h("h2", {}, "Partitions")),
      rows.length ? h("table", { id: "partitions" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "ID"),
          h("th", {}, "State"), h("th", { class: "num" }, "vCPUs"),
          h("th", { class: "num" }, "Memory"), h("th", {}, "Location"),
          h("th", {}, "Migration"), h("th", {}, ""))),
        h("tbody", {}, rows))
        : h("p", { class: "empty" }, "No partitions.")),
    h("section", { class: "card" },
      h("header", {}, h("h2", {}, "Event log"), h("span", { class: "muted" }, "migrations to and from this system")),
      migrationTable(migrations.slice(0, 50)))];
}

function migrationCell(record) {
  return h("span", {}, statePill(FINISHED.includes(record.state) ? record.state : describe(record)), " ",
    h("button", { type: "button", class: "link", onclick: () => openProgress(record) }, "progress"));
}

function operationsMenu(system, summary) {
  const name = summary.partition.profile.name;
  const list = h("div", { role: "menu", hidden: true },
    h("div", { class: "group" }, "Mobility"),
    h("button", { type: "button", role: "menuitem", onclick: () => { close(); openMobility(system, name); } }, "Validate…"),
    h("button", { type: "button", role: "menuitem", onclick: () => { close(); openMobility(system, name); } }, "Migrate…"));
  const toggle = h("button", {
    type: "button", "aria-haspopup": "menu", "aria-expanded": "false",
    "aria-label": `Operations for ${name}`,
    onclick: () => (list.hidden ? open() : close()),
  }, "Operations ▾");
  function open() {
    list.hidden = false;
    toggle.setAttribute("aria-expanded", "true");
    list.querySelector("[role=menuitem]").focus();
  }
  function close() {
    list.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
  }
  list.addEventListener("keydown", (event) => {
    const items = [...list.querySelectorAll("[role=menuitem]")];
    const at = items.indexOf(document.activeElement);
    if (event.key === "Escape") { close(); toggle.focus(); }
    if (event.key === "ArrowDown") { event.preventDefault(); items[(at + 1) % items.length].focus(); }
    if (event.key === "ArrowUp") { event.preventDefault(); items[(at + items.length - 1) % items.length].focus(); }
  });
  return h("div", { class: "menu" }, toggle, list);
}

// -- One partition: its profile and its event log --------------------------------------

async function partitionPage(system, name) {
  const path = `/systems/${encodeURIComponent(system)}/partitions/${encodeURIComponent(name)}`;
  const [summary, migrations] = await Promise.all([
    api("GET", path), api("GET", `/migrations?partition=${encodeURIComponent(name)}`)]);
  const profile = summary.partition.profile;
  const facts = [["State", summary.partition.state], ["Partition ID", profile.lpar_id],
    ["Profile", profile.profile_name], ["Processors (min / desired / max)",
      `${profile.min_procs} / ${profile.desired_procs} / ${profile.max_procs}`],
    ["Memory (min / desired / max)", `${gb(profile.min_mem)} / ${gb(profile.desired_mem)} / ${gb(profile.max_mem)}`],
    ["Processor compatibility", profile.proc_compat_mode],
    ["Operating system", summary.partition.os_version ?? "Unknown"],
    ["Boot", profile.boot_device_slot == null ? "system kernel (direct)"
      : `${profile.firmware === "uefi" ? "UEFI" : "BIOS"}, adapter in slot ${profile.boot_device_slot}`],
    ["Migration", summary.migration_state + (profile.migration_disabled ? " (migration disabled)" : "")]];
  return [
    h("h1", {}, name),
    h("p", { class: "crumbs" }, h("a", { href: "#/servers" }, "Servers"), " › ",
      h("a", { href: `#/systems/${encodeURIComponent(system)}` }, system), " › ", name),
    h("section", { class: "card" },
      h("header", {}, h("h2", {}, "Partition"), statePill(summary.partition.state),
        h("div", { class: "actions" }, operationsMenu(system, summary))),
      h("table", { id: "partition-facts" }, h("tbody", {}, facts.map(([label, value]) =>
        h("tr", {}, h("th", {}, label), h("td", {}, value ?? "–")))))),
    h("section", { class: "card" },
      h("header", {}, h("h2", {}, "Event log"), h("span", { class: "muted" }, "this partition's migrations")),
      migrationTable(migrations))];
}

// -- Migrations (history) --------------------------------------------------------------

async function migrationsPage() {
  const migrations = await api("GET", "/migrations");
  return [
    h("h1", {}, "Migrations"),
    h("p", { class: "crumbs" }, "Every migration this console ran, newest first"),
    h("section", { class: "card" }, migrationTable(migrations))];
}

function migrationTable(migrations) {
  if (!migrations.length) return h("p", { class: "empty" }, "No migrations yet.");
  return h("table", { class: "history" },
    h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Partition"),
      h("th", {}, "From"), h("th", {}, "To"), h("th", {}, "Kind"), h("th", {}, "State"),
      h("th", { class: "num" }, "Sent"), h("th", { class: "num" }, "Downtime"), h("th", {}, ""))),
    h("tbody", {}, migrations.map((m) => h("tr", {},
      h("td", {}, when(m.started)), h("td", {}, m.partition), h("td", {}, m.source),
      h("td", {}, m.target), h("td", {}, m.kind),
      h("td", {}, statePill(FINISHED.includes(m.state) ? m.state : describe(m)),
        m.error_code ? h("div", { class: "muted" }, `${m.error_code} ${m.error_message}`) : null),
      h("td", { class: "num" }, m.kind === "active" ? mib(m.bytes_transmitted) : "–"),
      h("td", { class: "num" }, m.downtime_ms !== null ? `${m.downtime_ms} ms` : "–"),
      h("td", {},
        FINISHED.includes(m.state) ? null
          : h("button", { type: "button", class: "link", onclick: () => openProgress(m) }, "progress"),
        " ",
        h("button", { type: "button", class: "link", onclick: () => openJournal(m) }, "journal"))))));
}

async function openJournal(record) {
  const entries = await api("GET", `/migrations/${record.id}/journal`);
  document.getElementById("journal-title").textContent =
    `Journal of ${record.partition} (${record.id})`;
  document.getElementById("journal-body").replaceChildren(h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Step"), h("th", {}, "Phase"), h("th", {}, "Detail"))),
    h("tbody", {}, entries.map((e) => h("tr", {},
      h("td", { class: "mono" }, new Date(e.at * 1000).toLocaleTimeString()),
      h("td", {}, e.step ? `${e.step} ${STEPS[e.step - 1]}` : "job"),
      h("td", {}, e.phase), h("td", {}, e.detail))))));
  document.getElementById("journal").showModal();
}
document.getElementById("journal-close").addEventListener("click",
  () => document.getElementById("journal").close());

// -- Operations → Mobility: validate, then migrate -------------------------------------

const mobility = document.getElementById("mobility");
const mobilityForm = document.getElementById("mobility-form");
const findingsBox = document.getElementById("findings");
const migrateButton = document.getElementById("migrate");
let mobilityFor = null;

async function openMobility(system, partition) {
  mobilityFor = { system, partition };
  if (!state.systems.length) state.systems = await api("GET", "/systems");
  document.getElementById("mobility-subtitle").textContent =
    `Partition ${partition} on ${system}`;
  mobilityForm.reset();
  showTargets(state.systems.map((s) => s.name).filter((name) => name !== system));
  findingsBox.replaceChildren();
  migrateButton.disabled = true;
  mobility.showModal();
  mobilityForm.elements.target.focus();
  await loadMoverPairs();
}

function showTargets(names) {
  const select = mobilityForm.elements.target;
  select.replaceChildren(...names.map((name) => h("option", { value: name }, name)));
  select.value = names.length ? names[0] : "";
}

// The destinations are this console's other systems, or, with a remote HMC, the systems
// that console shows the remote user (as the HMC's "Refresh destination system").
async function loadTargets() {
  const remote = remoteParams();
  findingsBox.replaceChildren();
  migrateButton.disabled = true;
  if (!remote.has("ip")) {
    showTargets(state.systems.map((s) => s.name).filter((name) => name !== mobilityFor.system));
  } else {
    showTargets([]);
    showTargets(await api("GET", `/remote-systems?${remote}`));
  }
  await loadMoverPairs();
}

function remoteParams() {
  const params = new URLSearchParams();
  const ip = mobilityForm.elements.remote_hmc.value.trim();
  const user = mobilityForm.elements.remote_user.value.trim();
  if (ip) params.set("ip", ip);
  if (ip && user) params.set("user", user);
  return params;
}

async function loadMoverPairs() {
  const target = mobilityForm.elements.target.value;
  const sources = mobilityForm.elements.source_msp_name;
  const dests = mobilityForm.elements.dest_msp_name;
  if (!target) return;
  const query = new URLSearchParams({ target });
  const remote = remoteParams();
  if (remote.has("ip")) query.set("remote_hmc", remote.get("ip"));
  if (remote.has("user")) query.set("remote_user", remote.get("user"));
  const pairs = await api("GET",
    `/systems/${encodeURIComponent(mobilityFor.system)}/mover-pairs?${query}`);
  const option = (name) => h("option", { value: name }, name);
  sources.replaceChildren(h("option", { value: "" }, "automatic"),
    ...[...new Set(pairs.map((p) => p.source_msp_name))].map(option));
  dests.replaceChildren(h("option", { value: "" }, "automatic"),
    ...[...new Set(pairs.map((p) => p.dest_msp_name))].map(option));
}

mobilityForm.elements.target.addEventListener("change", () => {
  findingsBox.replaceChildren();
  migrateButton.disabled = true;
  loadMoverPairs().catch(showFindingsError);
});
for (const input of mobilityForm.querySelectorAll("input, select")) {
  if (input.name !== "target") {
    input.addEventListener("change", () => { migrateButton.disabled = true; });
  }
}
for (const name of ["remote_hmc", "remote_user"]) {
  mobilityForm.elements[name].addEventListener("change", () => loadTargets().catch(showFindingsError));
}

function request() {
  const data = new FormData(mobilityForm);
  const body = { source: mobilityFor.system, target: data.get("target"), partition: mobilityFor.partition };
  for (const key of ["remote_hmc", "remote_user", "source_msp_name", "dest_msp_name", "dest_profile_name", "convergence"]) {
    if (data.get(key)) body[key] = data.get(key);
  }
  for (const key of ["vlan_bridge", "mpio", "redundant_vios"]) {
    if (data.get(key)) body[key] = Number(data.get(key));
  }
  return body;
}

function showFindingsError(error) {
  findingsBox.replaceChildren(h("p", { class: "error", role: "alert" }, `${error.code} ${error.message}`));
}

document.getElementById("validate").addEventListener("click", async () => {
  findingsBox.replaceChildren(h("p", { class: "muted" }, "Validating…"));
  migrateButton.disabled = true;
  try {
    const report = await api("POST", "/validations", request());
    const errors = report.findings.filter((f) => f.severity === "error");
    const warnings = report.findings.filter((f) => f.severity === "warning");
    const verdict = errors.length
      ? h("p", { class: "verdict bad" }, `Validation failed: ${errors.length} error(s), ${warnings.length} warning(s).`)
      : h("p", { class: "verdict ok" }, warnings.length
        ? `Validation passed with ${warnings.length} warning(s).` : "Validation passed.");
    findingsBox.replaceChildren(verdict, ...report.findings.map((f) => h("div",
      { class: `finding ${f.severity}`, "data-code": f.code },
      h("span", { class: "code" }, f.code), h("strong", {}, `${f.severity === "error" ? "Error" : "Warning"} `),
      h("span", {}, `[${f.object}] ${f.message}`),
      f.remedy ? h("div", { class: "remedy" }, f.remedy) : null)),
    h("p", { class: "muted" }, `${report.checks.length} checks in ${report.elapsed_ms.toFixed(0)} ms`));
    migrateButton.disabled = errors.length > 0;
    if (!errors.length) migrateButton.focus();
  } catch (error) {
    showFindingsError(error);
  }
});

migrateButton.addEventListener("click", async () => {
  migrateButton.disabled = true;
  try {
    const record = await api("POST", "/migrations", request());
    mobility.close();
    openProgress(record);
  } catch (error) {
    showFindingsError(error);
  }
});
document.getElementById("mobility-close").addEventListener("click", () => mobility.close());

// -- Operations → Evacuate: the plan first, then the moves -----------------------------

const evacuation = document.getElementById("evacuation");

async function openEvacuation(system) {
  const body = document.getElementById("evacuation-body");
  const confirm = document.getElementById("evacuation-confirm");
  document.getElementById("evacuation-title").textContent = `Evacuate ${system}`;
  body.replaceChildren(h("p", { class: "muted" }, "Validating every partition against every other system…"));
  confirm.disabled = true;
  confirm.onclick = async () => {
    confirm.disabled = true;
    try {
      drawEvacuation(await api("POST", `/systems/${encodeURIComponent(system)}/evacuation`, {}), true);
    } catch (error) {
      body.prepend(h("p", { class: "error", role: "alert" }, `${error.code} ${error.message}`));
    }
  };
  evacuation.showModal();
  try {
    const plan = await api("POST", `/systems/${encodeURIComponent(system)}/evacuation`, { dry_run: true });
    drawEvacuation(plan, false);
    confirm.disabled = !plan.placements.some((p) => p.target);
    confirm.focus();
  } catch (error) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, `${error.code} ${error.message}`));
  }
}

function drawEvacuation(plan, started) {
  const moving = plan.placements.filter((p) => p.target).length;
  document.getElementById("evacuation-body").replaceChildren(
    h("p", {}, started
      ? `${plan.system} is in maintenance; ${moving} migration(s) started. Follow each below or in Migrations.`
      : `${plan.system} will go into maintenance (no new partition, no incoming migration); `
        + `${moving} of ${plan.placements.length} partition(s) can move, in this order:`),
    h("table", { id: "evacuation-plan" },
      h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Partition"), h("th", {}, "Kind"),
        h("th", { class: "num" }, "Memory"), h("th", {}, "To"), h("th", {}, "Verdict"))),
      h("tbody", {}, plan.placements.map((p, index) => h("tr", {},
        h("td", {}, index + 1), h("td", {}, p.partition), h("td", {}, p.kind || "none"),
        h("td", { class: "num" }, gb(p.memory_mb)), h("td", {}, p.target || "–"),
        h("td", {}, p.target
          ? [statePill(p.warnings.length ? `passes, ${p.warnings.map((w) => w.code).join(", ")}` : "passes"),
            p.migration_id ? [" ", h("button", { type: "button", class: "link",
              onclick: () => { evacuation.close(); openProgress({ ...p, id: p.migration_id, partition: p.partition,
                source: plan.system, target: p.target, state: "Migration Starting", step: null, step_phase: "",
                kind: p.kind, bytes_transmitted: 0, bytes_remaining: 0, rate_bps: 0, started: Date.now() / 1000,
                ended: null, downtime_ms: null }); } }, "progress")] : null]
          : h("span", { class: "error" }, `stays: ${p.reason}`)))))));
}
document.getElementById("evacuation-close").addEventListener("click", () => evacuation.close());

// -- The progress window ---------------------------------------------------------------

const progress = document.getElementById("progress");

function openProgress(record) {
  if (state.progress) state.progress.close();
  const stream = new EventSource(`/migrations/${record.id}/events`);
  const timer = setInterval(() => showElapsed(), 1000);
  state.progress = {
    record,
    close() { stream.close(); clearInterval(timer); },
  };
  stream.addEventListener("migration", (event) => {
    const latest = JSON.parse(event.data);
    state.progress.record = latest;
    state.migrations.set(latest.id, latest);
    drawProgress(latest);
    if (FINISHED.includes(latest.state)) stream.close();
  });
  drawProgress(record);
  if (!progress.open) progress.showModal();
  document.getElementById("progress-close").focus();
}

function showElapsed() {
  if (!state.progress) return;
  const record = state.progress.record;
  const end = record.ended || Date.now() / 1000;
  document.getElementById("progress-elapsed").textContent = `${Math.max(0, end - record.started).toFixed(0)} s elapsed`;
}

function drawProgress(record) {
  document.getElementById("progress-title").textContent = `Migrating ${record.partition}`;
  document.getElementById("progress-subtitle").textContent =
    `${record.source} → ${record.target} · ${record.kind} migration · ${record.id}`;
  const finished = FINISHED.includes(record.state);
  const complete = record.state === "Migration Complete";
  document.getElementById("progress-steps").replaceChildren(...STEPS.map((label, index) => {
    const number = index + 1;
    const done = complete || (record.step && number < record.step);
    const current = !finished && record.step === number;
    return h("li", { class: done ? "done" : current ? "current" : "", "aria-current": current ? "step" : false },
      h("b", {}, done ? "✓" : number), label);
  }));
  const total = record.bytes_transmitted + record.bytes_remaining;
  const bar = document.getElementById("progress-bar");
  bar.max = total || 1;
  bar.value = complete ? bar.max : record.bytes_transmitted;
  document.getElementById("progress-bytes").textContent = record.kind === "active"
    ? `${mib(record.bytes_transmitted)} sent, ${mib(record.bytes_remaining)} remaining` : "no memory to move";
  document.getElementById("progress-rate").textContent = `${(record.rate_bps / 2 ** 20).toFixed(0)} MiB/s`;
  const result = document.getElementById("progress-result");
  result.className = `result ${complete ? "ok" : finished ? "bad" : ""}`;
  result.textContent = finished
    ? `${record.state}${record.error_code ? `: ${record.error_code} ${record.error_message}` : ""}`
      + (complete ? ` — ${record.partition} now runs on ${record.target}` : "")
      + (record.downtime_ms !== null ? ` (downtime ${record.downtime_ms} ms)` : "")
    : describe(record);
  document.getElementById("progress-stop").disabled = finished;
  showElapsed();
}

document.getElementById("progress-stop").addEventListener("click", async () => {
  const record = state.progress && state.progress.record;
  if (!record) return;
  document.getElementById("progress-stop").disabled = true;
  try {
    await api("POST", `/migrations/${record.id}/stop`);
  } catch (error) {
    document.getElementById("progress-result").textContent = `${error.code} ${error.message}`;
  }
});
document.getElementById("progress-close").addEventListener("click", () => progress.close());
progress.addEventListener("close", () => {
  if (state.progress) state.progress.close();
  state.progress = null;
});

start();
