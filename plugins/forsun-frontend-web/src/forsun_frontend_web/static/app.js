// forsun's dashboard: one page, hash routes, live updates by polling the JSON API.
// No framework and no build step: DOM helpers, fetch, and uPlot for the charts.
"use strict";

const POLL_MS = 2000;
const CHART_POINTS = 300;            // 10 minutes of samples at POLL_MS
const PAGE_SIZE = 50;
const LIST_ALL_MAX = 100000;     // plans listed without a prefix
// The API sits beside /ui/ (also behind a proxy that adds a path prefix).
const BASE = location.pathname.replace(/\/ui(\/.*)?$/, "");
const TOKEN_KEY = "forsun.token";

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  timezone: "UTC",
  skew: 0,              // server time minus browser time, seconds
  view: null,
  timer: null,
  loopId: 0,            // only the newest polling loop goes on
  generation: 0,        // bumps on every navigation; stale replies are dropped
  pollFailed: false,    // the status line shows a failed update (not an action's error)
};

// -- DOM helpers ----------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const $ = (selector, root = document) => root.querySelector(selector);

// -- formatting (in the server's time zone) -------------------------------------------------

let dateFormat = null;

function setTimezone(tz) {
  if (tz === state.timezone && dateFormat) return;
  try {
    dateFormat = new Intl.DateTimeFormat("sv-SE", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
    });
    state.timezone = tz;
  } catch {
    dateFormat = null;
    setTimezone("UTC");
  }
}
setTimezone("UTC");

function fmtTime(unix) {
  if (unix === null || unix === undefined || unix <= 0) return "–";
  return dateFormat.format(new Date(unix * 1000));
}

function serverNow() {
  return Date.now() / 1000 + state.skew;
}

function fmtIn(unix) {
  const s = Math.round(unix - serverNow());
  if (s >= 0) return s < 120 ? `in ${s} s` : `in ${Math.round(s / 60)} min`;
  return -s < 120 ? `${-s} s ago` : `${Math.round(-s / 60)} min ago`;
}

function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString("en-US", {maximumFractionDigits: digits,
                                             minimumFractionDigits: digits});
}

function fmtMs(seconds) {
  return seconds === null || seconds === undefined ? "–" : `${fmtNum(seconds * 1000, 1)} ms`;
}

// -- the API --------------------------------------------------------------------------------

class ApiError extends Error {}

async function api(method, path, options = {}) {
  const headers = {Accept: "application/json"};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let body;
  if (options.crontab !== undefined) {
    headers["Content-Type"] = "application/crontab";
    body = options.crontab;
  } else if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  let response;
  try {
    response = await fetch(BASE + path, {method, headers, body, cache: "no-store"});
  } catch {
    throw new ApiError("the server does not answer");
  }
  let reply = null;
  try {
    reply = await response.json();
  } catch {
    throw new ApiError(`HTTP ${response.status} from ${path}`);
  }
  if (response.status === 401) {
    askToken(state.token ? "The token was refused: enter the server's --token."
                         : "This server was started with --token: enter it to go on.");
    throw new ApiError("the server needs its token");
  }
  if (!reply || reply.errcode !== 0) {
    throw new ApiError(reply && reply.errmsg ? reply.errmsg : `HTTP ${response.status}`);
  }
  return reply.data;
}

function qs(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// -- status line, token ---------------------------------------------------------------------

let statusTimer = null;

function showStatus(message, kind = "error") {
  const el = $("#status");
  el.textContent = message;
  el.className = kind;
  el.hidden = !message;
  clearTimeout(statusTimer);
  if (message && kind === "ok") statusTimer = setTimeout(() => showStatus(""), 8000);
}

function askToken(reason) {
  const dialog = $("#token-dialog");
  $("#token-reason").textContent = reason;
  if (!dialog.open) {
    $("#token-input").value = "";
    dialog.showModal();
  }
}

function setupToken() {
  $("#token-form").addEventListener("submit", () => {
    state.token = $("#token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    showStatus("");
    refreshNow();
  });
  $("#token-forget").addEventListener("click", () => {
    state.token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    $("#token-dialog").close();
    refreshNow();
  });
  $("#token-button").addEventListener("click", () => askToken(
    "The token of this server's --token (leave as is if it has none)."));
}

// -- views ----------------------------------------------------------------------------------

function card(label, id, hint) {
  return h("div", {class: "card", title: hint},
    h("div", {class: "label"}, label), h("div", {class: "value", id}, "–"));
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", {class: "empty"}, empty);
  return h("div", {class: "table-wrap"}, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", {}, name)))),
    h("tbody", {}, rows)));
}

function outcomeRow(item, withKey) {
  return h("tr", {class: item.ok ? "ok" : "failed"},
    withKey ? h("td", {}, planLink(item.key)) : null,
    h("td", {}, fmtTime(item.due)),
    h("td", {}, item.action),
    h("td", {class: "num"}, item.attempt + 1),
    h("td", {class: "num"}, fmtMs(item.duration)),
    h("td", {}, item.ok ? h("span", {class: "badge ok"}, "ok")
                        : h("span", {class: "badge failed", title: item.error || ""},
                            item.error || "failed")),
    h("td", {class: "node"}, item.node));
}
const OUTCOME_HEADERS = ["due", "action", "try", "took", "result", "node"];

function planLink(key) {
  return h("a", {href: `#/plans${qs({key})}`, class: "key"}, key);
}

function pager(offset, total, go) {
  const last = Math.max(0, Math.ceil(total / PAGE_SIZE) - 1);
  const page = Math.floor(offset / PAGE_SIZE);
  return h("div", {class: "pager"},
    h("button", {type: "button", class: "secondary", disabled: page <= 0,
                 onclick: () => go(Math.max(0, offset - PAGE_SIZE))}, "‹ Previous"),
    h("span", {}, total ? `${fmtNum(offset + 1)}–${fmtNum(Math.min(total, offset + PAGE_SIZE))}`
                          + ` of ${fmtNum(total)}` : "none"),
    h("button", {type: "button", class: "secondary", disabled: page >= last,
                 onclick: () => go(offset + PAGE_SIZE)}, "Next ›"));
}

function chart(el, title, series, unit) {
  const width = Math.max(260, el.clientWidth - 8);
  const options = {
    title, width, height: 200,
    // From zero, so that a small wobble does not look like a swing.
    scales: {
      // At least the last minute, however few samples there are yet.
      x: {time: true, range: (u, min, max) => [Math.min(min ?? max, max - 60), max]},
      y: {range: (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)]},
    },
    axes: [{}, {size: 70, values: (u, ticks) => ticks.map(
      (t) => `${fmtNum(t, Number.isInteger(t) ? 0 : 2)}${unit}`)}],
    series: [{value: (u, v) => (v ? fmtTime(v) : "–")},
             ...series.map(([label, stroke]) => ({label, stroke, width: 2,
               value: (u, v) => (v === null || v === undefined ? "–" : `${fmtNum(v, 1)}${unit}`)}))],
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), state.timezone),
  };
  return new uPlot(options, [[], ...series.map(() => [])], el);
}

const overview = {
  samples: {time: [], rate: [], p50: [], p99: []},
  previous: null,
  charts: [],

  mount(main) {
    fill(main,
      h("h1", {}, "Overview"),
      h("div", {class: "cards"},
        card("Firings / s", "ov-rate", "firings per second since the last update"),
        card("Lateness p50", "ov-p50", "due second → action start, recent firings"),
        card("Lateness p99", "ov-p99", "due second → action start, recent firings"),
        card("In flight", "ov-in-flight", "occurrences whose action is running"),
        card("Queued", "ov-queued", "occurrences waiting for an action worker"),
        card("Due in 60 s", "ov-due", "occurrences due in the next minute"),
        card("Failures", "ov-failures", "occurrences that exhausted their retries"),
        card("Plans stored", "ov-plans", "plans in the store"),
        card("Nodes", "ov-nodes", "forsund nodes sharing the store"),
        card("Fired", "ov-fired", "firings since this node started"),
        card("Failed firings", "ov-failed", "failed firings since this node started")),
      h("div", {class: "charts"},
        h("div", {class: "chart", id: "chart-rate"}),
        h("div", {class: "chart", id: "chart-lateness"})),
      h("h3", {}, "Latest firings on this node"),
      h("div", {id: "ov-history"}),
      h("p", {class: "hint", id: "ov-about"}));
    const samples = this.samples;
    this.charts = [
      chart($("#chart-rate"), "Firings per second", [["firings/s", "#2563eb"]], ""),
      chart($("#chart-lateness"), "Lateness (ms)",
            [["p50", "#16a34a"], ["p99", "#dc2626"]], " ms"),
    ];
    this.draw(samples);
  },

  async refresh(ov) {
    const [nodes, history] = await Promise.all([api("GET", "/v1/nodes"),
                                                api("GET", `/v1/history${qs({limit: 8})}`)]);
    fill($("#ov-history"), table(["key", ...OUTCOME_HEADERS],
      history.map((item) => outcomeRow(item, true)), "No firing yet."));
    const previous = this.previous;
    this.previous = ov;
    let rate = null;
    if (previous && ov.time > previous.time && ov.firings_total >= previous.firings_total) {
      rate = (ov.firings_total - previous.firings_total) / (ov.time - previous.time);
    }
    const s = this.samples;
    s.time.push(ov.time);
    s.rate.push(rate);
    s.p50.push(ov.lateness_ms ? ov.lateness_ms.p50 : null);
    s.p99.push(ov.lateness_ms ? ov.lateness_ms.p99 : null);
    for (const list of Object.values(s)) if (list.length > CHART_POINTS) list.shift();

    const set = (id, text) => { const el = $(`#${id}`); if (el) el.textContent = text; };
    set("ov-rate", rate === null ? "–" : fmtNum(rate, 1));
    set("ov-p50", ov.lateness_ms && ov.lateness_ms.p50 !== null
      ? `${fmtNum(ov.lateness_ms.p50, 1)} ms` : "–");
    set("ov-p99", ov.lateness_ms && ov.lateness_ms.p99 !== null
      ? `${fmtNum(ov.lateness_ms.p99, 1)} ms` : "–");
    set("ov-in-flight", fmtNum(ov.in_flight));
    set("ov-queued", fmtNum(ov.queued));
    set("ov-due", fmtNum(ov.due_next_60s));
    set("ov-failures", fmtNum(ov.failures));
    set("ov-plans", fmtNum(ov.plans));
    set("ov-nodes", fmtNum(nodes.filter(isAlive).length));
    set("ov-fired", fmtNum(ov.firings_total));
    set("ov-failed", fmtNum(ov.firings_failed_total));
    set("ov-about", `Node ${ov.node} · forsun ${ov.version} · charts cover the time this `
                    + "page has been open.");
    const failures = $("#ov-failures");
    if (failures) failures.classList.toggle("alert", ov.failures > 0);
    this.draw(s);
  },

  draw(s) {
    if (this.charts.length !== 2) return;
    this.charts[0].setData([s.time, s.rate]);
    this.charts[1].setData([s.time, s.p50, s.p99]);
  },

  resize() {
    for (const c of this.charts) {
      c.setSize({width: Math.max(260, c.root.parentElement.clientWidth - 8), height: 200});
    }
  },

  unmount() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
  },
};

const plans = {
  params: null,
  listed: false,

  mount(main, params) {
    this.params = params;
    this.listed = false;
    const prefix = params.get("prefix") || "";
    fill(main,
      h("h1", {}, "Plans"),
      h("div", {class: "columns"},
        h("section", {class: "list"},
          h("form", {id: "search-form", class: "row", onsubmit: (event) => {
            event.preventDefault();
            go("plans", {prefix: $("#search-prefix").value});
          }},
            h("input", {type: "search", id: "search-prefix", name: "prefix", value: prefix,
                        placeholder: "key prefix", "aria-label": "key prefix"}),
            h("button", {type: "submit"}, "Search")),
          h("div", {id: "plan-list"}, h("p", {class: "empty"}, "Loading…")),
          createForm()),
        h("section", {class: params.get("key") ? "detail chosen" : "detail", id: "plan-detail"},
          params.get("key") ? h("p", {class: "empty"}, "Loading…")
                            : h("p", {class: "empty"}, "Pick a plan to see it here."))));
  },

  async refresh(ov) {
    const key = this.params.get("key");
    const [, plan, history, next] = await Promise.all([
      this.listed ? null : this.list(ov),
      key ? api("GET", `/v1/plan${qs({key})}`).catch((error) => error) : null,
      key ? api("GET", `/v1/history${qs({key, limit: 20})}`).catch((error) => error) : null,
      key ? api("GET", `/v1/plan/next${qs({key, n: 5})}`).catch(() => null) : null,
    ]);
    if (key) fill($("#plan-detail"), planDetail(key, plan, history, next));
  },

  // The key list is read once per visit (the store answers every matching key), not at
  // every poll; without a prefix only while the store is small.
  async list(ov) {
    const params = this.params;
    const prefix = params.get("prefix") || "";
    const key = params.get("key");
    if (!prefix && ov.plans > LIST_ALL_MAX) {
      fill($("#plan-list"), h("p", {class: "hint"}, `${fmtNum(ov.plans)} plans: type a key `
                                                     + "prefix to list them."));
      this.listed = true;
      return;
    }
    const offset = Number(params.get("offset") || 0);
    const keys = await api("GET", `/v1/keys${qs({prefix})}`);
    const page = keys.slice(offset, offset + PAGE_SIZE);
    fill($("#plan-list"),
      h("p", {class: "hint"}, `${fmtNum(keys.length)} plan${keys.length === 1 ? "" : "s"}`),
      page.length ? h("ul", {class: "keys"}, page.map((k) => h("li", {class: k === key
        ? "selected" : null}, h("a", {href: `#/plans${qs({
          prefix, offset: offset || null, key: k})}`}, k))))
        : h("p", {class: "empty"}, "No plan with this prefix."),
      keys.length > PAGE_SIZE ? pager(offset, keys.length, (o) => go("plans", {
        prefix, offset: o, key})) : null);
    this.listed = true;
  },
};

function planDetail(key, plan, history, next) {
  const stored = !(plan instanceof Error);
  const fields = stored ? [
    ["mode", plan.is_time_out ? "delay (createTimeout)" : "fixed time (create)"],
    ["action", plan.action],
    ["params", Object.entries(plan.params).map(([k, v]) => `${k}=${v}`).join("; ") || "–"],
    ["second minute hour", `${plan.second} ${plan.minute} ${plan.hour}`],
    ["day month week", `${plan.day} ${plan.month} ${plan.week}`],
    ["count", plan.count === 0 ? "forever" : `${plan.current_count} of ${plan.count}`],
    ["status", ["waiting", "executing", "finished"][plan.status] ?? plan.status],
    ["next time", `${fmtTime(plan.next_time)} (${fmtIn(plan.next_time)})`],
    ["last fired", fmtTime(plan.last_timeout)],
    ["created", fmtTime(plan.created_time)],
  ] : [];
  return [
    h("h2", {class: "key-title"}, key),
    stored ? h("div", {class: "row"},
      h("button", {type: "button", id: "fire-now", onclick: () => act(
        "POST", `/v1/fire${qs({key})}`, `Fired ${key}.`)}, "Fire now"),
      h("button", {type: "button", class: "danger", id: "delete-plan", onclick: () => {
        if (confirm(`Delete plan ${key}?`)) {
          plans.listed = false;
          act("DELETE", `/v1/plan${qs({key})}`, `Deleted ${key}.`);
        }
      }}, "Delete"))
      : h("p", {class: "empty"}, `Not stored: ${plan.message} (a plan is removed after its `
                                 + "last firing).") ,
    stored ? h("dl", {class: "fields"}, fields.map(([name, value]) => [
      h("dt", {}, name), h("dd", {}, value)])) : null,
    stored && Array.isArray(next) && next.length ? [h("h3", {}, "Next occurrences"),
      h("ol", {class: "next"}, next.map((t) => h("li", {}, `${fmtTime(t)} (${fmtIn(t)})`)))]
      : null,
    h("h3", {}, "Recent outcomes"),
    history instanceof Error ? h("p", {class: "empty"}, history.message)
      : table(OUTCOME_HEADERS, (history || []).map((item) => outcomeRow(item, false)),
              "No firing yet (outcomes are kept by each node since it started)."),
  ];
}

async function act(method, path, done, options) {
  try {
    const data = await api(method, path, options);
    showStatus(done, "ok");
    refreshNow();
    return data;
  } catch (error) {
    showStatus(error.message);
    return null;
  }
}

function createForm() {
  return h("details", {class: "create", open: true},
    h("summary", {}, "Create plans"),
    h("form", {id: "create-form", onsubmit: async (event) => {
      event.preventDefault();
      const text = $("#create-lines").value;
      const submittedAt = location.hash;
      const created = await act("POST", "/v1/plans", "", {crontab: text});
      if (created) {
        const keys = created.map((plan) => plan.key);
        showStatus(`Created ${keys.join(", ")}.`, "ok");
        // Show the first new plan, unless the user went elsewhere (a search, another
        // view) while the request was out: stay there, with the list read again at the
        // refresh act() started.
        if (location.hash === submittedAt) {
          $("#create-lines").value = "";
          go("plans", {prefix: plans.params.get("prefix"), key: keys[0]});
        } else {
          plans.listed = false;
        }
      }
    }},
      h("p", {class: "hint"}, "One plan per line, as the forsun CLI's ",
        h("code", {}, "set KEY S M H D MON W ACTION 'PARAMS'"), "; a ",
        h("code", {}, "*/N"), " field makes a delay plan (", h("code", {}, "*/N/COUNT"),
        " fires COUNT times). A plan whose key exists is replaced."),
      h("textarea", {id: "create-lines", rows: 3, required: true, spellcheck: "false",
                     placeholder: "set job1 */30/1 * * * * * http 'url=http://127.0.0.1:8080/cb'"}),
      h("button", {type: "submit", id: "create-submit"}, "Create")));
}

const due = {
  mount(main) {
    fill(main, h("h1", {}, "Due soon"),
      h("p", {class: "hint"}, "Plans due in the next 60 seconds, soonest first."),
      h("div", {id: "due-list"}, h("p", {class: "empty"}, "Loading…")));
  },

  async refresh() {
    const items = await api("GET", `/v1/due${qs({seconds: 60, limit: 500})}`);
    fill($("#due-list"), table(["key", "due", "in", "action", "count"],
      items.map((plan) => h("tr", {},
        h("td", {}, planLink(plan.key)),
        h("td", {}, fmtTime(plan.next_time)),
        h("td", {}, fmtIn(plan.next_time)),
        h("td", {}, plan.action),
        h("td", {class: "num"}, plan.count === 0 ? "∞" : `${plan.current_count}/${plan.count}`))),
      "Nothing is due in the next 60 seconds."),
      items.length >= 500 ? h("p", {class: "hint"}, "Showing the first 500.") : null);
  },
};

const failures = {
  params: null,
  selected: new Set(),

  mount(main, params) {
    this.params = params;
    this.selected = new Set();
    fill(main, h("h1", {}, "Failures"),
      h("p", {class: "hint"}, "Occurrences that exhausted their retries. Retrying fires "
        + "one again now (once); discarding forgets it."),
      h("form", {class: "row", id: "failure-filter", onsubmit: (event) => {
        event.preventDefault();
        go("failures", {prefix: $("#failure-prefix").value,
                        action: $("#failure-action").value});
      }},
        h("input", {type: "search", id: "failure-prefix", placeholder: "key prefix",
                    value: params.get("prefix") || "", "aria-label": "key prefix"}),
        h("input", {type: "search", id: "failure-action", placeholder: "action",
                    value: params.get("action") || "", "aria-label": "action"}),
        h("button", {type: "submit"}, "Filter")),
      h("div", {class: "row bulk"},
        h("button", {type: "button", id: "retry-selected", onclick: () =>
          this.bulk("retry", {ids: [...this.selected]})}, "Retry selected"),
        h("button", {type: "button", class: "danger", id: "discard-selected", onclick: () =>
          this.bulk("discard", {ids: [...this.selected]})}, "Discard selected"),
        h("button", {type: "button", class: "secondary", id: "retry-all", onclick: () =>
          confirm("Retry every failure?") && this.bulk("retry", {all: true})}, "Retry all"),
        h("button", {type: "button", class: "secondary danger", id: "discard-all", onclick: () =>
          confirm("Discard every failure?") && this.bulk("discard", {all: true})},
          "Discard all")),
      h("div", {id: "failure-list"}, h("p", {class: "empty"}, "Loading…")));
  },

  async bulk(verb, body) {
    if (body.ids && !body.ids.length) {
      showStatus("Select failures first.");
      return;
    }
    const data = await act("POST", `/v1/failures/${verb}`, "", {json: body});
    if (data) {
      const n = verb === "retry" ? data.retried : data.discarded;
      showStatus(`${verb === "retry" ? "Retried" : "Discarded"} ${n}.`, "ok");
      this.selected.clear();
    }
  },

  async refresh() {
    const params = this.params;
    const offset = Number(params.get("offset") || 0);
    const data = await api("GET", `/v1/failures${qs({prefix: params.get("prefix"),
      action: params.get("action"), limit: PAGE_SIZE, offset})}`);
    const ids = new Set(data.items.map((item) => item.id));
    for (const id of this.selected) if (!ids.has(id)) this.selected.delete(id);
    const rows = data.items.map((item) => h("tr", {dataset: {id: item.id}},
      h("td", {}, h("input", {type: "checkbox", "aria-label": `select ${item.key}`,
        checked: this.selected.has(item.id), onchange: (event) => {
          if (event.target.checked) this.selected.add(item.id);
          else this.selected.delete(item.id);
        }})),
      h("td", {}, planLink(item.key)),
      h("td", {}, fmtTime(item.due)),
      h("td", {}, item.action),
      h("td", {class: "num"}, item.attempts),
      h("td", {class: "error"}, item.error),
      h("td", {}, fmtTime(item.failed_at)),
      h("td", {class: "node"}, item.node),
      h("td", {class: "buttons"},
        h("button", {type: "button", class: "small", onclick: () =>
          this.bulk("retry", {ids: [item.id]})}, "Retry"),
        h("button", {type: "button", class: "small danger", onclick: () =>
          this.bulk("discard", {ids: [item.id]})}, "Discard"))));
    fill($("#failure-list"),
      h("p", {class: "hint"}, `${fmtNum(data.total)} failure${data.total === 1 ? "" : "s"}`,
        data.dropped ? ` (${fmtNum(data.dropped)} older ones dropped: the list is bounded)`
                     : ""),
      table(["", "key", "due", "action", "attempts", "error", "failed at", "node", ""], rows,
            "No failures."),
      data.total > PAGE_SIZE ? pager(offset, data.total, (o) => go("failures", {
        prefix: params.get("prefix"), action: params.get("action"), offset: o})) : null);
  },
};

// A node without a lease is this node on a single-node store, or one whose work another
// node took over.
function isAlive(node) {
  return node.alive_until === null ? node.self : node.alive_until > serverNow();
}

const nodes = {
  mount(main) {
    fill(main, h("h1", {}, "Nodes"),
      h("p", {class: "hint"}, "forsund nodes sharing this store (a store that holds one "
        + "node shows this one)."),
      h("div", {id: "node-list"}, h("p", {class: "empty"}, "Loading…")));
  },

  async refresh() {
    const items = await api("GET", "/v1/nodes");
    fill($("#node-list"), table(["node", "state", "alive until", "in flight"],
      items.map((node) => {
        const alive = isAlive(node);
        return h("tr", {class: alive ? "" : "failed"},
          h("td", {class: "node"}, node.node, node.self ? h("span", {class: "badge"}, "this")
                                                       : null),
          h("td", {}, h("span", {class: `badge ${alive ? "ok" : "failed"}`},
                        alive ? "alive" : "gone")),
          h("td", {}, node.alive_until === null ? "–" : fmtTime(node.alive_until)),
          h("td", {class: "num"}, fmtNum(node.in_flight)));
      }), "No node."));
  },
};

const VIEWS = {overview, plans, due, failures, nodes};

// -- routing and polling --------------------------------------------------------------------

function go(view, params = {}) {
  const hash = `#/${view}${qs(params)}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const name = VIEWS[path] ? path : "overview";
  if (state.view && state.view.unmount) state.view.unmount();
  state.view = VIEWS[name];
  state.generation += 1;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  document.title = `forsun · ${$(`nav a[data-view="${name}"]`).textContent}`;
  state.view.mount($("#view"), new URLSearchParams(search || ""));
  refreshNow();
}

async function tick() {
  const generation = state.generation;
  try {
    const ov = await api("GET", "/v1/overview");
    state.skew = ov.time - Date.now() / 1000;
    setTimezone(ov.timezone);
    if (generation !== state.generation) return;
    await state.view.refresh(ov);
    if (generation !== state.generation) return;
    if (state.pollFailed) showStatus("");  // the server answers again
    state.pollFailed = false;
  } catch (error) {
    if (generation === state.generation) {
      state.pollFailed = true;
      showStatus(error.message);
    }
  }
  showClock();
}

function showClock() {
  $("#clock").textContent = `${fmtTime(serverNow())} ${state.timezone}`;
}

function refreshNow() {
  clearTimeout(state.timer);
  const loopId = ++state.loopId;
  const loop = async () => {
    if (!document.hidden) await tick();
    if (loopId === state.loopId) state.timer = setTimeout(loop, POLL_MS);
  };
  loop();
}

// Inside another site's frame its buttons could be clicked by deceit (clickjacking): refuse.
if (window.top !== window.self) {
  document.body.replaceChildren(h("p", {id: "framed"}, "The forsun dashboard does not run "
    + "inside a frame: open it in a window of its own."));
} else {
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => state.view && state.view.resize && state.view.resize());
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshNow(); });
  setupToken();
  route();
  setInterval(showClock, 1000);
}
