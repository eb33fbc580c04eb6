// voice-monitor dashboard: every number comes from /api/v1/... with the session cookie.
// Data is written with textContent only (never innerHTML), so no event field can inject markup;
// characters that draw nothing but reorder or hide text are shown as marks (see `show`).
"use strict";

const REFRESH_MS = 15000;
const CHART_EVERY = 4; // charts and the organization table (hourly snapshots): every 4th refresh
const CHARTS = ["throughput", "failure_rate", "stage_latency", "cost_by_organization"];
const CARDS = [
  ["artifacts_received", "artifacts received"],
  ["artifacts_completed", "artifacts completed"],
  ["artifacts_failed", "artifacts failed"],
  ["failure_rate", "artifact failure rate"],
  ["transcriptions_completed", "transcriptions"],
  ["claims_extracted", "claims extracted"],
  ["entities_resolved", "entities resolved"],
  ["drafts_generated", "drafts generated"],
  ["failures", "failures (all *_failed)"],
];
// ?now=2026-02-16T14:30:00Z pins the page to a moment (post-mortems, demo lakes).
const PINNED_NOW = new URLSearchParams(location.search).get("now");

// Plotly (its basic bundle, 1.2 MB) is loaded once the first panels show their numbers:
// compiling it would otherwise hold the page's thread while their answers wait. Only drawing a
// chart waits for it. Its URL (with the file's version) comes from the page.
const PLOTLY_SRC = document.currentScript.dataset.plotly;
let plotly = null;
function loadPlotly() {
  plotly ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = PLOTLY_SRC;
    const began = performance.now();
    script.addEventListener("load", () => {
      performance.measure("voice-monitor plotly.js", { start: began }); // fetched and compiled
      resolve();
    });
    script.addEventListener("error", () => reject(new Error(`${PLOTLY_SRC} did not load`)));
    document.head.append(script);
  });
  return plotly;
}

// events, timelines: the event log's and the timeline's loads begun; *Settled: those answered
// or failed since
const state = { tick: 0, cursors: [null], page: 0, filters: {}, timeline: null,
                events: 0, eventsSettled: 0, timelines: 0, timelinesSettled: 0,
                refreshing: 0, apiTimeoutMs: 120000 };
state.shownFilters = JSON.stringify(state.filters);  // the filters of the rows shown (none yet)
// what a load returns when a later one began while it waited: its answer is not shown
const SUPERSEDED = "superseded";

// The answer of `request()` if it is the latest of the loads counted in state[kind] when it
// settles, else SUPERSEDED (an older answer drawn last would show under the newer load); a
// superseded failure is SUPERSEDED too, so it never speaks in the red line.
async function latest(kind, request) {
  const load = ++state[kind];
  let answer;
  try {
    answer = await request();
  } catch (error) {
    if (load === state[kind]) throw error;
  } finally {
    state[`${kind}Settled`] += 1;
  }
  return load === state[kind] ? answer : SUPERSEDED;
}

// -- helpers ---------------------------------------------------------------------------------
const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) show(node, String(text));
  if (className) node.className = className;
  return node;
}

// Characters that draw nothing but change what is read: bidi embeddings, overrides and isolates
// reorder the text after them ('art\u202etxt.exe' reads 'artexe.txt'), zero-width spaces make
// two ids look the same. Data shows each as a visible mark (U+202E) instead.
const INVISIBLE = /[\u200b\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;

function show(node, text) {
  const marks = [...text.matchAll(INVISIBLE)];
  if (!marks.length) {
    node.textContent = text;
    return;
  }
  node.replaceChildren();
  let at = 0;
  for (const match of marks) {
    const code = `U+${match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
    const mark = el("span", code, "invisible");
    mark.title = `an invisible character, ${code}, is here in the data`;
    node.append(text.slice(at, match.index), mark);
    at = match.index + match[0].length;
  }
  node.append(text.slice(at));
}

function note(text, columns) {
  const td = el("td", text, "muted");
  td.colSpan = columns;
  return row([td]);
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

function num(value, className = "num") { return el("td", value, className); }

const fmt = {
  int: (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US")),
  pct: (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`),
  usd: (v) => (v === null || v === undefined ? "–" : `$${Number(v).toFixed(2)}`),
  // ISO-8601 UTC from the API, shown as written: the page never converts to the browser's zone
  time: (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, "") : "–"),
  ms(v) {
    if (v === null || v === undefined) return "–";
    const s = v / 1000;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    if (s < 3600) return `${(s / 60).toFixed(1)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  },
  age(seconds) {
    if (seconds === null || seconds === undefined) return "never";
    return `${fmt.ms(seconds * 1000)} ago`;
  },
};

const UNREACHABLE = "the server cannot be reached (stopped, restarting, or the network is down)";

async function api(path, params = {}, options = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else if (value !== null && value !== undefined && value !== "") query.append(key, value);
  }
  const url = `/api/v1/${path}${query.toString() ? `?${query}` : ""}`;
  // a request unanswered for state.apiTimeoutMs fails its panel: a timed refresh waits for the
  // last round to end, so one answer that never came (a read stuck on the server) stopped
  // every later refresh without a word
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin",
                                  signal: AbortSignal.timeout(state.apiTimeoutMs), ...options });
  } catch (error) {
    if (error.name === "TypeError") {
      // no connection at all (the server stopped or restarting, the network down): the
      // browser's own words ("Failed to fetch", "NetworkError when attempting to fetch
      // resource.") said neither what happened nor that the page keeps trying
      const away = new Error(`${path}: no connection`);
      away.detail = `${UNREACHABLE}; the page tries again at each refresh`;
      away.unreachable = true;
      throw away;
    }
    if (error.name !== "TimeoutError") throw error;
    const late = new Error(`${path}: no answer`);
    late.detail = `no answer from the server in ${state.apiTimeoutMs / 1000} s`;
    throw late;
  }
  if (response.status === 401) {
    location.assign("/login");
    throw new Error("signed out");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(`${path}: ${body.detail || response.status}`);
    error.detail = String(body.detail || response.status); // the server's words, for `report`
    throw error;
  }
  return body;
}

function withNow(params = {}) { return PINNED_NOW ? { ...params, now: PINNED_NOW } : params; }

// A time without an offset is UTC, as the API reads it; a browser's Date would take it as local
// time (a page in New York pinned to 16:00 read its 48 hours up to 21:00 UTC)
function pinnedDate() {
  // an hour alone (2026-02-16T14, as `rollup hourly --hour` writes it) is a time to the API,
  // none to a browser's Date: the organizations panel said it was no ISO-8601 time
  const text = PINNED_NOW.trim().replace(" ", "T")
    .replace(/(T\d\d)(?=$|Z$|[+-]\d\d(:?\d\d)?$)/i, "$1:00");
  const dated = text.length > 10 && !/(Z|[+-]\d\d(:?\d\d)?)$/i.test(text.slice(10));
  return new Date(dated ? `${text}Z` : text);
}

function nowDate() {
  if (!PINNED_NOW) return new Date();
  const at = pinnedDate();
  if (Number.isNaN(at.getTime())) {  // as the API says it, not the browser's "Invalid time value"
    throw new Error(`now '${PINNED_NOW}' is not an ISO-8601 time; use e.g. 2026-02-16T14:30:00Z`);
  }
  return at;
}

function pinnedText() {
  const at = pinnedDate();
  return Number.isNaN(at.getTime()) ? PINNED_NOW : fmt.time(at.toISOString());
}

const problems = new Map();
function report(panel, error) {
  // each problem once, after the panels it stops: a missing lake is one line naming the nine
  // panels, not nine lines of the same words (the API's path is left out: the panel says it)
  if (error) problems.set(panel, error.detail ?? error.message);
  else problems.delete(panel);
  const panels = new Map();
  for (const [name, said] of problems) panels.set(said, [...(panels.get(said) || []), name]);
  const box = $("#error");
  box.textContent = [...panels].map(([said, names]) => `${names.join(", ")}: ${said}`)
    .join(" · ");
  box.hidden = problems.size === 0;
}

// resolves to whether the panel loaded (the clock says when some did not)
// (a superseded load says nothing: the later one speaks for the panel); a load that drew its
// panel around a problem returns its words ({detail}), said in the red line as an error's are
function guarded(panel, load) {
  return () => load().then((result) => {
    if (result !== SUPERSEDED) report(panel, result?.detail ? result : undefined);
    return true;
  }, (error) => { report(panel, error); return false; });
}

// What an answer says it read around: snapshot files it could not read (their periods drawn as
// not built), event files (their hours left out of a timeline), the organizations file. The
// server's words, without the name of its query in front, so the panels that read the same
// file share one line.
function readAround(answer) {
  const said = [answer.snapshots_unreadable?.message.replace(/^[a-z_]+: /, ""),
                answer.events_unreadable?.message.replace(/^[a-z_]+: /, ""),
                answer.names_unreadable].filter(Boolean);
  return said.length ? { detail: said.join("; ") } : undefined;
}

// -- panels ----------------------------------------------------------------------------------
async function loadRealtime() {
  const rt = await api("metrics/realtime", withNow());
  const outcomes = rt.artifacts_completed + rt.artifacts_failed;
  const values = { ...rt, failure_rate: outcomes ? rt.artifacts_failed / outcomes : 0 };
  const cards = $("#cards");
  cards.replaceChildren();
  for (const [key, label] of CARDS) {
    const card = el("div", null, "card");
    card.dataset.metric = key;
    card.append(el("div", key === "failure_rate" ? fmt.pct(values[key]) : fmt.int(values[key]),
                   "value"), el("div", label, "label"));
    cards.append(card);
  }
  $("#window").textContent = `${fmt.time(rt.window_start)} – ${fmt.time(rt.window_end)} UTC`;
}

async function loadFreshness() {
  const f = await api("freshness", withNow());
  const lines = [
    ["newest event", f.newest_event_at, f.newest_event_age_s, f.events_stale],
    ["newest hourly snapshot", f.newest_hourly_snapshot,
     f.hourly_snapshot_age_s, f.hourly_stale],
    ["newest daily snapshot", f.newest_daily_snapshot, f.daily_snapshot_age_s,
     f.daily_stale],
    ["last hourly rollup", f.last_hourly_rollup_at, null, f.hourly_stale],
    ["last daily rollup", f.last_daily_rollup_at, null, f.daily_stale],
  ];
  const body = $("#freshness tbody");
  body.replaceChildren();
  for (const [label, at, age, stale] of lines) {
    const tr = row([el("th", label), el("td", fmt.time(at)),
                    el("td", age === null ? "" : fmt.age(age))]);
    tr.dataset.stale = String(Boolean(stale));
    if (stale) tr.className = "stale";
    body.append(tr);
  }
}

async function acknowledge(alertId, button) {
  button.disabled = true;
  try {
    await api(`alerts/${encodeURIComponent(alertId)}/ack`, {}, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    });
    report("acknowledge");  // an earlier failed attempt's words are no longer true
    await guarded("alerts", loadAlerts)();
  } catch (error) {
    button.disabled = false;
    // a refresh loads a panel again, but nothing sends an acknowledgement again: "the page
    // tries again" was said of one that was never recorded
    report("acknowledge", error.unreachable ? { detail: `${UNREACHABLE}: the acknowledgement ` +
      "was not recorded; press Acknowledge again once the server is back" } : error);
    state.acknowledgeTick = state.tick;
    await guarded("alerts", loadAlerts)();  // acknowledged by someone else meanwhile: show who
  }
}

async function loadAlerts() {
  // pinned (?now=): the alerts active at that moment, each as it stands today
  const { alerts } = await api("alerts", withNow());
  const body = $("#alerts tbody");
  body.replaceChildren();
  for (const a of alerts) {
    const severity = el("td");
    severity.append(el("span", a.severity, `sev sev-${a.severity}`));
    if (a.escalated_at) {  // raised at a lower severity: say when it became this one
      const [day, time] = fmt.time(a.escalated_at).split(" ");
      const at = fmt.time(a.raised_at).startsWith(`${day} `) ? "" : `${day} `;  // another day
      severity.append(" ", el("span", `escalated ${at}${time.slice(0, 5)}`, "muted escalated"));
    }
    const ack = el("td", a.acknowledged_at
      ? `${a.acknowledged_by} at ${fmt.time(a.acknowledged_at)}` : "no");
    const action = el("td");
    if (!a.acknowledged_at) {
      const button = el("button", "Acknowledge");
      button.type = "button";
      button.addEventListener("click", () => acknowledge(a.alert_id, button));
      action.append(button);
    }
    const tr = row([severity, el("td", a.alert_type), el("td", a.organization_id || "platform"),
                    el("td", a.message, "message"), el("td", fmt.time(a.raised_at)), ack, action]);
    tr.dataset.alertId = a.alert_id;
    body.append(tr);
  }
  if (!alerts.length) {
    body.append(note(PINNED_NOW ? "No alert was active at that moment." : "No active alerts.", 7));
  }
  $("#alert-count").textContent = `(${alerts.length})`;
}

async function loadChart(name, after) {
  const figure = await api(`charts/${name}`, withNow());
  await after;
  await loadPlotly();
  const target = $(`#chart-${name}`);
  const began = performance.now();
  await Plotly.react(target, figure.data, figure.layout,
                     { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] });
  await fitWidth(target);
  performance.measure(`voice-monitor chart ${name}`, { start: began });
  target.dataset.rendered = "true";
  return readAround(figure);
}

// On a narrow screen (a phone, 390 px) a title longer than its chart ("Failure rate per hour,
// failed / (completed + failed)") and the cost chart's largest label, outside its bar, ran past
// the chart's right edge and were cut. Drawn, such a title is set smaller until it fits, and
// the right margin widened by what a bar's label overflows; a chart that fits is left as it is,
// and the chart definitions (charts.py, the notebooks' charts too) are unchanged.
async function fitWidth(target) {
  for (let round = 0; round < 3; round += 1) {
    const right = target.getBoundingClientRect().right - 2;
    const update = {};
    const title = target.querySelector(".gtitle");
    if (title) {
      const box = title.getBoundingClientRect();
      if (box.right > right) {
        const size = parseFloat(getComputedStyle(title).fontSize);
        update["title.font.size"] = Math.max(9, Math.floor(size * (right - box.left) / box.width));
      }
    }
    const over = Math.max(0, ...[...target.querySelectorAll(".bartext")]
      .map((text) => text.getBoundingClientRect().right - right));
    if (over > 0) update["margin.r"] = target.layout.margin.r + Math.ceil(over) + 4;
    if (!Object.keys(update).length) return;
    await Plotly.relayout(target, update);
  }
}

function range48() {
  const end = nowDate();
  return { start: new Date(end - 48 * 3600e3).toISOString(), end: end.toISOString() };
}

async function loadOrgs() {
  const answer = await api("metrics/orgs", withNow(range48()));
  const { rows } = answer;
  const body = $("#orgs tbody");
  body.replaceChildren();
  for (const o of rows) {
    const name = o.name === "Unknown" ? o.organization_id : `${o.name} (${o.organization_id})`;
    const tr = row([el("td", name), num(fmt.int(o.artifacts_received)),
                    num(fmt.int(o.artifacts_completed)), num(fmt.int(o.artifacts_failed)),
                    num(fmt.pct(o.overall_failure_rate)),
                    num(o.e2e_latency_count ? fmt.ms(o.e2e_latency_avg_ms) : "–"),
                    num(fmt.usd(o.total_ai_cost_usd)), num(fmt.usd(o.avg_cost_per_artifact_usd))]);
    tr.dataset.org = o.organization_id;
    body.append(tr);
  }
  if (!rows.length) body.append(note("No organization snapshots in the last 48 hours.", 8));
  return readAround(answer);
}

function artifactLink(id) {
  const td = el("td");
  if (!id) return td;
  const link = el("a", id, "artifact");
  link.href = `#artifact=${encodeURIComponent(id)}`;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    guarded("timeline", () => openTimeline(id))();
  });
  td.append(link);
  return td;
}

async function loadEvents() {
  // only the latest load is shown: "Newest" or a filter while a page loaded got the older
  // answer drawn last, under the new page number (and its cursor taken for the next page)
  // pinned (?now=): the log as it was then, events stamped at or before that moment
  const filters = state.filters;
  const body = $("#events tbody");
  let page;
  try {
    page = await latest("events", () => api("events", withNow({
      ...filters, limit: 25, cursor: state.cursors[state.page] })));
  } catch (error) {
    // a filter that did not load (refused, say a 300-character organization) showed the last
    // filter's rows under its own form values: the panel says why it shows none instead (a
    // page or a refresh of the same filter that fails keeps its rows, as every panel does)
    if (state.shownFilters !== JSON.stringify(filters)) {
      body.replaceChildren(note("These filters did not load: " +
        `${error.detail ?? error.message}. No rows are shown (those shown before were the ` +
        "previous filters').", 7));
      $("#events-page").textContent = "";
      $("#events-first").disabled = true;
    }
    throw error;
  }
  if (page === SUPERSEDED) return SUPERSEDED;
  state.shownFilters = JSON.stringify(filters);
  body.replaceChildren();
  for (const e of page.rows) {
    const error = [e.error_code, e.error_message].filter(Boolean).join(": ");
    const tr = row([el("td", fmt.time(e.timestamp)), el("td", e.event_type),
                    el("td", e.pipeline_stage || ""), el("td", e.organization_id || ""),
                    artifactLink(e.artifact_id), num(e.duration_ms === null ? "" : fmt.ms(e.duration_ms)),
                    el("td", error, "message")]);
    tr.dataset.eventId = e.event_id;
    if (e.event_type.endsWith("_failed")) tr.className = "failed";
    body.append(tr);
  }
  if (!page.rows.length) body.append(note("No events match.", 7));
  state.cursors[state.page + 1] = page.next_cursor;
  $("#events-next").disabled = !page.next_cursor;
  $("#events-first").disabled = state.page === 0;
  $("#events-page").textContent = `page ${state.page + 1}`;
  // an hour the page reached whose event file the server could not read is left out of it
  // (events_unreadable): said on the panel's red line, naming the file and the fix
  return readAround(page);
}

async function openTimeline(id) {
  // the last artifact clicked is the one shown, whichever answer comes last
  state.timeline = id;
  // pinned (?now=): the artifact as it was then, its events stamped at or before that moment
  const answer = await latest("timelines", () =>
    api(`artifacts/${encodeURIComponent(id)}/timeline`, withNow()));
  if (answer === SUPERSEDED) return SUPERSEDED;
  const { rows } = answer;
  show($("#timeline-artifact"), id);
  const body = $("#timeline tbody");
  body.replaceChildren();
  for (const e of rows) {
    const status = [e.previous_status, e.new_status].filter(Boolean).join(" → ");
    const error = [e.error_code, e.error_message].filter(Boolean).join(": ");
    const tr = row([el("td", fmt.time(e.timestamp)), el("td", e.event_type),
                    el("td", e.pipeline_stage || ""), num(e.duration_ms === null ? "" : fmt.ms(e.duration_ms)),
                    el("td", status), el("td", error, "message")]);
    if (e.event_type.endsWith("_failed")) tr.className = "failed";
    body.append(tr);
  }
  // an hour holding an event file the server could not read is left out (events_unreadable):
  // its events may be this artifact's, so an empty answer is not "no event"
  if (!rows.length && answer.events_unreadable) {
    body.append(note("No event of this artifact could be read: an hour of the lake is left " +
                     "out (see the red line).", 6));
  } else if (!rows.length) {  // an id nobody logged, or (pinned) one not received by then
    body.append(note(PINNED_NOW ? "No event of this artifact is stamped at or before that moment."
                                : "No event of this artifact is in the lake.", 6));
  }
  $("#timeline-panel").hidden = false;
  $("#timeline-panel").scrollIntoView({ block: "nearest" });
  return readAround(answer);
}

function linkedId(encoded) {
  try {
    return decodeURIComponent(encoded);
  } catch {  // a hand-written link: a % not followed by two hex digits
    throw new Error(`the link's artifact id '${encoded}' is not percent-encoded; link to ` +
                    `#artifact= and the id as encodeURIComponent writes it ` +
                    `(${encodeURIComponent(encoded)})`);
  }
}

// -- wiring ----------------------------------------------------------------------------------
const loaders = {
  realtime: guarded("real-time counters", loadRealtime),
  freshness: guarded("freshness", loadFreshness),
  alerts: guarded("alerts", loadAlerts),
  events: guarded("event log", loadEvents),
  orgs: guarded("organizations", loadOrgs),
  charts: (after) => Promise.all(CHARTS.map((name) => guarded(`chart ${name}`,
                                                             () => loadChart(name, after))())),
};

async function refresh(options) {
  state.refreshing += 1;  // (rounds under way: a tick starts none meanwhile)
  try {
    await refreshAll(options);
  } finally {
    state.refreshing -= 1;
  }
}

async function refreshAll({ all = false } = {}) {
  // a failed acknowledgement is not a panel that loads again: its line (say, "already
  // acknowledged by ...", whose row now shows who) goes after a whole refresh interval
  if (state.acknowledgeTick !== undefined && state.tick > state.acknowledgeTick) {
    report("acknowledge");
    state.acknowledgeTick = undefined;
  }
  const work = [loaders.realtime(), loaders.freshness(), loaders.alerts()];
  // Plotly waits for the quick panels only: the event log reads raw events and may take longer
  const panels = Promise.all(work);
  if (state.page === 0) work.push(loaders.events()); // never yank a page the reader is on
  if (all || state.tick % CHART_EVERY === 0) work.push(loaders.charts(panels), loaders.orgs());
  state.tick += 1;
  const loaded = (await Promise.all(work)).flat().every(Boolean);
  // a panel that failed keeps what it last showed: the clock must not call that fresh
  $("#clock").textContent = `${loaded ? "updated" : "not all updated (see the red line)"} ` +
    `${fmt.time(new Date().toISOString())} UTC` +
    (PINNED_NOW ? ` · pinned to ${pinnedText()} UTC` : "");
  document.body.dataset.loaded = "true";
}

// A timed refresh waits for the last one to end: on a slow server (a big lake, a stalled store)
// each tick started another whole round beside those still waiting, so an open page asked ever
// more of the server it was waiting for, and an older round's answers could land last.
function tick() {
  if ($("#auto-refresh").checked && !state.refreshing) refresh();
}

function wire() {
  const form = $("#event-filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    // the id exactly as typed: landing keeps spaces around an id, and the API looks it up as is
    state.filters = { type: data.get("type"), stage: data.get("stage"),
                      org: data.get("org"), errors_only: data.get("errors_only") ? "true" : "" };
    state.cursors = [null];
    state.page = 0;
    $("#events-next").disabled = true;  // until the filtered log's first page says there is more
    loaders.events();
  });
  // a page that did not load is not turned to: its number and the rows shown stay the last
  // page's (turned first, the count ran on while the rows stayed, and a page without its cursor
  // loaded the newest rows under a later page's number)
  // one turn at a time: a second click while the page loads had no cursor yet, and loaded the
  // newest rows under page 3's number; the load says whether a further page exists
  $("#events-next").addEventListener("click", async () => {
    $("#events-next").disabled = true;
    state.page += 1;
    if (!(await loaders.events())) {
      state.page -= 1;
      $("#events-next").disabled = !state.cursors[state.page + 1];
    }
  });
  $("#events-first").addEventListener("click", () => {
    state.page = 0; state.cursors = [null];
    $("#events-next").disabled = true;  // page 2's cursor comes with the newest page
    loaders.events();
  });
  $("#timeline-close").addEventListener("click", () => {
    $("#timeline-panel").hidden = true;
    report("timeline");  // what its load said (an hour left out, a failure) goes with it
  });
  $("#refresh").addEventListener("click", () => refresh({ all: true }));
  setInterval(tick, REFRESH_MS);
  openLinked();
  // a link pasted or edited in the address bar of an open page changes only its hash: the
  // page is not loaded again, and the timeline it names was never opened
  window.addEventListener("hashchange", openLinked);
}

function openLinked() {
  const linked = /^#artifact=(.+)$/.exec(location.hash);
  if (linked) guarded("timeline", async () => openTimeline(linkedId(linked[1])))();
}

document.addEventListener("DOMContentLoaded", () => { wire(); refresh({ all: true }); });
