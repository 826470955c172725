// healthscore's dashboard: a few pages over the REST API. The API key lives in this browser
// session only (sessionStorage), is sent as a bearer token, and never goes into a URL the
// server sees (a link may carry it in the fragment, which browsers do not send).
"use strict";

const BANDS = ["healthy", "at_risk", "critical"];
const BAND_LABEL = { healthy: "Healthy", at_risk: "At risk", critical: "Critical", insufficient_data: "Insufficient data" };
const FACTOR_LABEL = {
  engagement_recency: "Engagement recency", deal_momentum: "Deal momentum",
  lifecycle_stage: "Lifecycle stage", activity_frequency: "Activity frequency", deal_value: "Deal value",
};
const DAY = 86400000;

const main = () => document.getElementById("main");

// Each navigation's number: a page whose data arrives after the user moved on draws nothing.
let routeId = 0;
function draw(here, ...nodes) {
  if (here === routeId) main().replaceChildren(...nodes);
}
const key = () => sessionStorage.getItem("healthscore.key");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : "HTTP " + status);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + key() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (response.status === 401) { signOut(); throw new ApiError(401, body); }
  if (!response.ok) throw new ApiError(response.status, body);
  return { body, headers: response.headers };
}
const get = async (path) => (await api(path)).body;

function chip(band) {
  const name = band || "insufficient_data";
  return el("span", { class: "chip " + name }, BAND_LABEL[name] || name);
}
const score = (value) => (value === null || value === undefined ? "–" : Number(value).toFixed(1));
const date = (iso) => (iso ? new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "–");
function daysAgo(iso) {
  if (!iso) return "never";
  const days = Math.floor((Date.now() - new Date(iso).getTime()) / DAY);
  return days <= 0 ? "today" : days === 1 ? "yesterday" : days + " days ago";
}
const customerLink = (id, name) => el("a", { href: "#/customer/" + encodeURIComponent(id) }, name || id);

// --- sign-in -------------------------------------------------------------------------------

// `#key=<key>` (and optionally `&go=/customer/123`): keep the key, then drop it from the URL.
function takeKeyFromFragment() {
  if (!location.hash.startsWith("#key=")) return;
  const params = new URLSearchParams(location.hash.slice(1));
  sessionStorage.setItem("healthscore.key", params.get("key"));
  const go = params.get("go");
  history.replaceState(null, "", location.pathname + "#" + (go && go.startsWith("/") ? go : "/"));
}

function signOut() {
  sessionStorage.removeItem("healthscore.key");
  render();
}

function signIn() {
  const input = el("input", { id: "key", type: "password", autocomplete: "off", required: true, size: 48 });
  const message = el("p", { class: "error", role: "alert" });
  const form = el("form", {
    class: "panel",
    onsubmit: async (event) => {
      event.preventDefault();
      sessionStorage.setItem("healthscore.key", input.value.trim());
      try {
        await get("/scores/summary");
        render();
      } catch (error) {
        sessionStorage.removeItem("healthscore.key");
        message.textContent = error.status === 401 ? "That key is unknown or revoked." : error.message;
      }
    },
  },
    el("h1", {}, "Sign in"),
    el("p", { class: "muted" }, "Paste an API key (", el("code", {}, "healthscore keys create --portal <id>"),
      "). It stays in this browser tab only."),
    el("label", { for: "key" }, "API key"), input, " ",
    el("button", { type: "submit" }, "Sign in"), message);
  main().replaceChildren(form);
  input.focus();
}

// --- overview ------------------------------------------------------------------------------

async function overview() {
  const here = routeId;
  const weekAgo = new Date(Date.now() - 7 * DAY).toISOString();
  const [now, then, movers, owners] = await Promise.all([
    get("/scores/summary"),
    get("/scores/summary?as_of=" + encodeURIComponent(weekAgo)),
    get("/scores/movers?limit=8"),
    get("/owners"),
  ]);
  const card = (band, count, before) => {
    const delta = count - before;
    const trend = delta === 0 ? "no change" : (delta > 0 ? "+" : "") + delta + " since last week";
    const good = band === "healthy" ? delta > 0 : delta < 0;
    return el("div", { class: "panel card " + band, "data-band": band },
      el("div", { class: "muted" }, BAND_LABEL[band]),
      el("div", { class: "count", "data-count": count }, count),
      el("div", { class: delta === 0 ? "muted" : good ? "up" : "down" }, trend));
  };
  const cards = el("section", { class: "grid", "aria-label": "Customers per band" },
    BANDS.map((band) => card(band, now.bands[band], then.bands[band])),
    card("insufficient_data", now.insufficient_data, then.insufficient_data));
  const filter = el("select", { id: "band-filter" },
    el("option", { value: "critical,at_risk" }, "At risk and critical"),
    el("option", { value: "critical" }, "Critical"),
    el("option", { value: "at_risk" }, "At risk"),
    el("option", { value: "healthy" }, "Healthy"));
  // "My accounts": the owner chosen stays chosen for the browser session.
  const ownerFilter = el("select", { id: "owner-filter" },
    el("option", { value: "" }, "Every owner"),
    owners.owners.map((o) => el("option", { value: o.id }, o.name + (o.archived ? " (left)" : ""))));
  ownerFilter.value = sessionStorage.getItem("healthscore-owner") || "";
  const list = el("div");
  // Only the latest choice is drawn: an earlier load answered late must not replace it.
  let latest = 0;
  const load = async () => {
    const mine = ++latest;
    const bands = filter.value.split(",");
    sessionStorage.setItem("healthscore-owner", ownerFilter.value);
    const owner = ownerFilter.value ? "&owner=" + encodeURIComponent(ownerFilter.value) : "";
    const pages = await Promise.all(bands.map((band) => get("/customers?sort=score&limit=100&band=" + band + owner)));
    if (mine !== latest) return;
    const rows = pages.flatMap((page) => page.customers).sort((a, b) => a.score - b.score);
    list.replaceChildren(el("table", { id: "watch-list" },
      el("thead", {}, el("tr", {}, el("th", {}, "Customer"), el("th", { class: "num" }, "Score"),
        el("th", {}, "Band"), el("th", {}, "Owner"), el("th", {}, "Last activity"), el("th", {}, "Hurts most"))),
      el("tbody", {}, rows.map((c) => el("tr", {},
        el("td", {}, customerLink(c.id, c.name)), el("td", { class: "num" }, score(c.score)),
        el("td", {}, chip(c.band)), el("td", {}, c.owner ? c.owner.name || "owner " + c.owner.id : "–"),
        el("td", {}, daysAgo(c.last_activity_at)),
        el("td", {}, FACTOR_LABEL[c.weakest_factor] || "–"))))));
  };
  filter.addEventListener("change", load);
  ownerFilter.addEventListener("change", load);
  const moverRows = movers.movers.map((m) => el("tr", {},
    el("td", {}, customerLink(m.customer_id, m.name)),
    el("td", { class: "num" }, score(m.score_then), " → ", score(m.score_now)),
    el("td", { class: "num " + (m.delta > 0 ? "up" : "down") }, (m.delta > 0 ? "+" : "") + m.delta.toFixed(1))));
  draw(here,
    el("h1", {}, "Overview"),
    el("p", { class: "muted" }, now.customers + " customers, mean score " + score(now.mean_score) +
      " (a week ago " + score(then.mean_score) + ")"),
    cards,
    el("div", { class: "cols" },
      el("section", { class: "panel", "aria-labelledby": "watch" },
        el("div", { class: "row" }, el("h2", { id: "watch" }, "Watch list"),
          el("label", { for: "band-filter" }, "Show ", filter),
          el("label", { for: "owner-filter" }, "Owner ", ownerFilter)),
        list),
      el("section", { class: "panel", "aria-labelledby": "movers" },
        el("h2", { id: "movers" }, "Biggest movers this week"),
        moverRows.length ? el("table", {}, el("tbody", {}, moverRows)) : el("p", { class: "muted" }, "No score moved."))));
  await load();
}

// --- customer ------------------------------------------------------------------------------

function factorWords(factor, config) {
  const d = factor.detail || {};
  switch (factor.factor) {
    case "engagement_recency":
      return d.last_activity_at ? "last sales activity " + daysAgo(d.last_activity_at) + " (" + date(d.last_activity_at) + ")" : "no sales activity recorded";
    case "deal_momentum":
      if ((d.open_deals || []).length) {
        const n = d.open_deals.length;
        return n + (n === 1 ? " open deal" : " open deals") + ", win probability " + (d.delta >= 0 ? "up " : "down ") +
          Math.abs(Math.round(100 * Number(d.delta || 0))) + " points in " + config.deal_momentum.window_days + " days";
      }
      if ((d.won_within_lookback || []).length) return "a deal won within " + d.won_lookback_days + " days";
      return factor.status === "not_applicable" ? "no deals" : "no open deals and none won lately";
    case "lifecycle_stage":
      return d.stage ? "lifecycle stage " + d.stage : "no lifecycle stage the scoring knows";
    case "activity_frequency":
      return d.events + " changes in the last " + d.window_days + " days";
    case "deal_value":
      return (d.deals || []).length ? "deals worth " + Number(d.value_total || 0).toLocaleString() + " (portal median " + (d.portal_median === null ? "–" : Number(d.portal_median).toLocaleString()) + ")" : "no deals";
    default:
      return "";
  }
}

function historyChart(points, bands) {
  const width = 760, height = 220, left = 34, right = 8, top = 10, bottom = 24;
  const xs = (i) => left + (i * (width - left - right)) / Math.max(1, points.length - 1);
  const ys = (value) => top + ((100 - value) * (height - top - bottom)) / 100;
  const svg = (tag, attrs) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    return node;
  };
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": "Score over time with the band thresholds" });
  for (const [value, colour] of [[bands.healthy_min, "var(--healthy)"], [bands.at_risk_min, "var(--critical)"]]) {
    chart.append(svg("line", { x1: left, x2: width - right, y1: ys(value), y2: ys(value), stroke: colour, "stroke-dasharray": "4 4" }));
    const label = svg("text", { x: 2, y: ys(value) + 4 });
    label.textContent = value;
    chart.append(label);
  }
  let path = "", previous = null;
  points.forEach((p, i) => {
    if (p.score === null) { previous = null; return; }
    path += (previous === null ? "M" : "L") + xs(i).toFixed(1) + " " + ys(p.score).toFixed(1) + " ";
    previous = p;
  });
  chart.append(svg("path", { d: path, fill: "none", stroke: "var(--accent)", "stroke-width": 2 }));
  let band = null;
  points.forEach((p, i) => {
    if (p.band && band && p.band !== band) {
      const dot = svg("circle", { cx: xs(i), cy: ys(p.score), r: 4, fill: `var(--${p.band.replace("_", "-")})` });
      const title = svg("title", {});
      title.textContent = date(p.as_of) + ": " + BAND_LABEL[band] + " → " + BAND_LABEL[p.band];
      dot.append(title);
      chart.append(dot);
    }
    if (p.band) band = p.band;
  });
  for (const i of [0, Math.floor(points.length / 2), points.length - 1]) {
    // The last date ends at the right edge instead of running past it.
    const last = i === points.length - 1;
    const label = svg("text", { x: xs(i), y: height - 6, "text-anchor": last ? "end" : "start" });
    label.textContent = date(points[i].as_of);
    chart.append(label);
  }
  return chart;
}

async function customer(id, asOf) {
  const here = routeId;
  const at = asOf ? "?as_of=" + encodeURIComponent(asOf) : "";
  const to = asOf || new Date().toISOString();
  const from = new Date(new Date(to).getTime() - 180 * DAY).toISOString();
  const [view, report, history, config] = await Promise.all([
    get("/customers/" + encodeURIComponent(id)),
    get("/customers/" + encodeURIComponent(id) + "/score" + at),
    get("/customers/" + encodeURIComponent(id) + "/score/history?step=1w&from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to)),
    get("/scoring/config"),
  ]);
  const picker = el("input", { type: "date", id: "as-of", value: (asOf || to).slice(0, 10), max: new Date().toISOString().slice(0, 10) });
  picker.addEventListener("change", () => {
    location.hash = "#/customer/" + encodeURIComponent(id) + (picker.value ? "?as_of=" + picker.value + "T23:59:59Z" : "");
  });
  const factors = el("table", { id: "factors" },
    el("thead", {}, el("tr", {}, el("th", {}, "Factor"), el("th", { class: "num" }, "Value"),
      el("th", { class: "num" }, "Weight"), el("th", { class: "num" }, "Points"), el("th", {}, "Why"))),
    el("tbody", {}, report.factors.map((f) => el("tr", { "data-factor": f.factor },
      el("td", {}, FACTOR_LABEL[f.factor] || f.factor),
      el("td", { class: "num" }, f.value === null ? "n/a" : f.value.toFixed(2)),
      el("td", { class: "num" }, f.weight),
      el("td", { class: "num" }, f.contribution === null ? "–" : f.contribution.toFixed(2)),
      el("td", {}, factorWords(f, config.config))))));
  // What the score counts (deals through companies too), named from the contact's own links.
  const names = new Map(view.associations.map((a) => [a.type + "/" + a.id, a.name]));
  const counted = report.associations || [];
  const linked = (type) => {
    const links = counted.filter((a) => a.type === type);
    if (!links.length) return [el("li", { class: "muted" }, "none")];
    return links.map((a) => el("li", {}, names.get(type + "/" + a.id) || type + " " + a.id,
      el("span", { class: "muted" }, (a.via_company ? ", through its company" : "") + ", since " + date(a.since) +
        (a.since_estimated ? " (estimated)" : ""))));
  };
  draw(here,
    el("p", {}, el("a", { href: "#/" }, "← Overview")),
    el("h1", {}, view.name || view.properties.email || id),
    el("div", { class: "cols" },
      el("section", { class: "panel", "aria-label": "Score" },
        el("div", { class: "row" },
          el("div", {}, el("div", { class: "score " + (report.band || ""), id: "score" }, score(report.score)),
            chip(report.band)),
          el("div", {}, el("div", { class: "muted" }, "coverage " + Math.round(report.coverage * 100) + " %"),
            el("div", { class: "muted" }, "as of " + date(report.as_of) + ", configuration v" + report.config_version)),
          el("label", { for: "as-of" }, "As of ", picker)),
        el("h2", {}, "Last 180 days, week by week"),
        historyChart(history.points, config.config.bands)),
      el("section", { class: "panel", "aria-label": "Contact" },
        el("h2", {}, "Contact"),
        el("p", {}, view.properties.email || ""),
        el("p", { id: "owner" }, "Owner: ", view.owner ? (view.owner.name || "owner " + view.owner.id) +
          (view.owner.email ? " (" + view.owner.email + ")" : "") : "none"),
        el("h2", {}, "Companies"), el("ul", {}, linked("company")),
        el("h2", {}, "Deals"), el("ul", {}, linked("deal")))),
    el("section", { class: "panel" }, el("h2", {}, "Factors"), factors));
}

// --- scoring -------------------------------------------------------------------------------

const PARAMETERS = [
  ["bands", "healthy_min", "Healthy from"], ["bands", "at_risk_min", "At risk from"],
  ["", "min_coverage", "Minimum coverage"],
  ["engagement_recency", "half_life_days", "Engagement half-life (days)"],
  ["deal_momentum", "window_days", "Momentum window (days)"],
  ["deal_momentum", "won_lookback_days", "Won-deal lookback (days)"],
  ["activity_frequency", "window_days", "Activity window (days)"],
  ["activity_frequency", "half_saturation", "Activity half-saturation"],
];

async function scoring() {
  const here = routeId;
  const { body: current, headers } = await api("/scoring/config");
  const etag = headers.get("ETag");
  const versions = await get("/scoring/config/versions?limit=100");
  const inputs = {};
  const number = (id, value, label) => {
    inputs[id] = el("input", { type: "number", id, step: "any", min: 0, value });
    return el("label", { for: id }, label, el("br"), inputs[id]);
  };
  const weights = el("fieldset", { class: "fieldset" }, el("legend", {}, "Weights (add up to 100)"),
    el("div", { class: "row" }, Object.entries(current.config.weights).map(([factor, weight]) =>
      number("w-" + factor, weight, FACTOR_LABEL[factor] || factor))));
  const parameters = el("fieldset", { class: "fieldset" }, el("legend", {}, "Bands and factors"),
    el("div", { class: "row" }, PARAMETERS.map(([section, name, label]) =>
      number("p-" + (section || "root") + "-" + name, section ? current.config[section][name] : current.config[name], label))));
  const candidate = () => {
    const config = { weights: {}, bands: {}, engagement_recency: {}, deal_momentum: {}, activity_frequency: {},
      lifecycle_stage: current.config.lifecycle_stage };
    for (const factor of Object.keys(current.config.weights)) config.weights[factor] = Number(inputs["w-" + factor].value);
    for (const [section, name] of PARAMETERS) {
      const value = Number(inputs["p-" + (section || "root") + "-" + name].value);
      if (section) config[section][name] = value; else config[name] = value;
    }
    return config;
  };
  const result = el("div", { id: "preview", "aria-live": "polite" },
    el("p", { class: "muted" }, "Change weights or settings, then Preview to see what the change would do."));
  const problem = (error) => el("div", { class: "error", role: "alert" }, error.message,
    error.problem && error.problem.errors ? el("ul", {}, error.problem.errors.map((e) => el("li", {}, e.field + ": " + e.message))) : null);
  const preview = async () => {
    try {
      const p = (await api("/scoring/preview", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(candidate()) })).body;
      const outcomes = [...BANDS, "insufficient_data"];
      result.replaceChildren(
        el("h2", {}, "What this would change"),
        el("table", { id: "preview-bands" },
          el("thead", {}, el("tr", {}, el("th", {}, ""), outcomes.map((o) => el("th", { class: "num" }, BAND_LABEL[o])))),
          el("tbody", {},
            el("tr", {}, el("th", {}, "Now"), outcomes.map((o) => el("td", { class: "num", "data-now": o }, p.bands_now[o] || 0))),
            el("tr", {}, el("th", {}, "Candidate"), outcomes.map((o) => el("td", { class: "num", "data-candidate": o }, p.bands_candidate[o] || 0))))),
        el("h2", {}, "From (rows) to (columns)"),
        el("table", {},
          el("thead", {}, el("tr", {}, el("th", {}, ""), outcomes.map((o) => el("th", { class: "num" }, BAND_LABEL[o])))),
          el("tbody", {}, outcomes.map((from) => el("tr", {}, el("th", {}, BAND_LABEL[from]),
            outcomes.map((to) => el("td", { class: "num" }, ((p.transitions[from] || {})[to]) || 0)))))),
        el("h2", {}, "Biggest moves"),
        el("table", {}, el("tbody", {}, p.biggest_moves.slice(0, 10).map((m) => el("tr", {},
          el("td", {}, customerLink(m.customer_id, m.name)),
          el("td", { class: "num" }, score(m.score_now), " → ", score(m.score_candidate)),
          el("td", { class: "num " + (m.delta > 0 ? "up" : "down") }, (m.delta > 0 ? "+" : "") + m.delta.toFixed(1)))))));
    } catch (error) {
      result.replaceChildren(problem(error));
    }
  };
  const save = async () => {
    try {
      const saved = (await api("/scoring/config", { method: "PUT",
        headers: { "Content-Type": "application/json", "If-Match": etag }, body: JSON.stringify(candidate()) })).body;
      result.replaceChildren(el("p", { class: "ok", role: "status" }, "Saved as version " + saved.version + "."));
      setTimeout(() => route(), 800);
    } catch (error) {
      result.replaceChildren(error.status === 412
        ? el("p", { class: "error", role: "alert" }, "Someone saved a new version meanwhile; reload to edit it.")
        : problem(error));
    }
  };
  draw(here,
    el("h1", {}, "Scoring"),
    el("p", { class: "muted" }, "Version " + current.version + " since " + date(current.updated_at) + ". Preview a change before saving it."),
    el("form", { class: "panel", onsubmit: (e) => { e.preventDefault(); preview(); } },
      weights, parameters,
      el("div", { class: "row" }, el("button", { type: "submit", id: "preview-button" }, "Preview"),
        el("button", { type: "button", class: "secondary", id: "save-button", onclick: save }, "Save as a new version"))),
    el("section", { class: "panel" }, result),
    el("section", { class: "panel" }, el("h2", {}, "Versions"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Version"), el("th", {}, "Since"), el("th", {}, "Weights"))),
        el("tbody", {}, versions.versions.slice().reverse().map((v) => el("tr", {},
          el("td", {}, v.version + (v.version === versions.current_version ? " (current)" : "")),
          el("td", {}, date(v.updated_at)),
          el("td", {}, Object.entries(v.config.weights).map(([f, w]) => (FACTOR_LABEL[f] || f) + " " + w).join(", "))))))));
}

// --- sync ----------------------------------------------------------------------------------

let syncTimer = null;
// Set through the CSSOM: the page's policy allows no inline style attribute.
function width(node, percent) {
  node.style.width = percent.toFixed(1) + "%";
  return node;
}
const CONNECTION_WORDS = {
  connected: "Connected to HubSpot",
  needs_reauthorisation: "HubSpot refused this portal's refresh token: install the app again (an operator opens /connect/hubspot)",
  disconnected: "Disconnected: data and scores are kept, nothing syncs",
};

async function sync() {
  const here = routeId;
  const [list, connection] = await Promise.all([
    get("/sync/runs?limit=10"),
    get("/connection").catch((error) => (error.status === 404 || error.status === 503 ? null : Promise.reject(error))),
  ]);
  const how = connection ? (connection.method === "oauth" ? " by OAuth" : " by private app") +
    (connection.connected_by ? ", by " + connection.connected_by : "") +
    ", since " + new Date(connection.connected_at).toLocaleDateString() +
    (connection.token_expires_at ? "; the access token is renewed before " + new Date(connection.token_expires_at).toLocaleTimeString() : "") : "";
  const status = connection
    ? el("p", { id: "connection", "data-status": connection.status, class: connection.status === "connected" ? "" : "error" },
      CONNECTION_WORDS[connection.status] + how + ".")
    : el("p", { id: "connection" }, list.syncing ? "Syncing with the server's access token." : "This portal is not connected: an operator connects it (healthscore connect, POST /connections or /connect/hubspot).");
  const running = list.runs.find((r) => r.status === "running");
  const message = el("p", { role: "status" });
  const start = el("button", { type: "button", id: "sync-now", disabled: !list.syncing || !!running,
    onclick: async () => {
      try { await api("/sync", { method: "POST" }); route(); }
      catch (error) { message.className = "error"; message.textContent = error.message; }
    } }, "Sync now");
  let progress = null;
  if (running && running.live) {
    const live = running.live;
    const share = live.expected_objects ? Math.min(100, (100 * live.objects) / live.expected_objects) : 0;
    progress = el("div", {},
      el("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(share) },
        width(el("div"), share)),
      el("p", { class: "muted" }, live.objects + " objects, " + live.objects_per_second.toFixed(0) + "/s" +
        (live.eta_seconds ? ", about " + Math.ceil(live.eta_seconds) + " s left" : "")));
  }
  draw(here,
    el("h1", {}, "Sync"),
    el("section", { class: "panel" },
      status, start, message, progress),
    el("section", { class: "panel" }, el("h2", {}, "Recent runs"),
      list.runs.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Started"), el("th", {}, "Mode"),
        el("th", {}, "Status"), el("th", { class: "num" }, "Objects"), el("th", { class: "num" }, "Events"), el("th", {}, "Error"))),
        el("tbody", {}, list.runs.map((r) => el("tr", {},
          el("td", {}, new Date(r.started_at).toLocaleString()), el("td", {}, r.mode), el("td", {}, r.status),
          el("td", { class: "num" }, r.totals.objects), el("td", { class: "num" }, r.totals.events_recorded),
          el("td", {}, r.failure_reason || ""))))) : el("p", { class: "muted" }, "No sync has run yet.")));
  if (running) syncTimer = setTimeout(() => { if (location.hash === "#/sync") route(); }, 1500);
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  clearTimeout(syncTimer);
  const here = ++routeId;
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const page = path.startsWith("/customer/") ? "overview" : (path.slice(1) || "overview");
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  try {
    if (path.startsWith("/customer/")) await customer(decodeURIComponent(path.slice(10)), params.get("as_of"));
    else if (path === "/scoring") await scoring();
    else if (path === "/sync") await sync();
    else await overview();
    document.title = "healthscore – " + (document.querySelector("main h1") || {}).textContent;
  } catch (error) {
    if (error.status === 401) return;
    draw(here, el("h1", {}, "Something went wrong"), el("p", { class: "error", role: "alert" }, error.message));
  }
}

function render() {
  const signedIn = !!key();
  document.getElementById("sign-out").hidden = !signedIn;
  if (signedIn) route(); else signIn();
}

takeKeyFromFragment();
document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", () => { if (key()) route(); });
render();
