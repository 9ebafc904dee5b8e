// boardsync dashboard: keeps the page live from /api/stream (server-sent events). The page is
// complete without this script; it only refreshes what the server rendered:
//   [data-k]        a value from the pair's status (path into /api/status's pair), inside [data-pair]
//   [data-g]        a value from the whole status document
//   [data-total]    a number summed over all pairs
//   [data-f]        how to show it: text (default), ago, dur, level, state (also sets data-state)
//   [data-at]       a time (Unix ms) shown as "… ago", re-counted every second
//   tbody[data-changes]  gets new changes of that pair ("*": every pair) prepended
//   [data-changed]  shown once the sum over pairs of that field is no longer data-count
"use strict";
(() => {
  const body = document.body;
  if (!body || !body.dataset.stream || !window.EventSource) return;

  const duration = (ms) => {
    if (ms < 1000) return `${Math.max(0, Math.floor(ms))} ms`;
    if (ms < 60000) return `${Math.floor(ms / 1000)} s`;
    if (ms < 3600000) return `${Math.floor(ms / 60000)} min`;
    if (ms < 86400000) return `${Math.floor(ms / 3600000)} h`;
    return `${Math.floor(ms / 86400000)} d`;
  };
  const ago = (at) => (at == null ? "never" : `${duration(Date.now() - at)} ago`);
  const formats = {
    text: (v) => (v == null ? "—" : String(v)),
    dur: (v) => (v == null ? "—" : duration(v)),
    ago: ago,
    level: (v) => String(v).replace(/_/g, " "),
    state: (v) => String(v),
  };
  const get = (obj, path) => path.split(".").reduce((v, k) => (v == null ? v : v[k]), obj);
  const show = (el, value) => {
    const f = el.dataset.f || "text";
    if (f === "ago") {
      if (value == null) delete el.dataset.at;
      else el.dataset.at = String(value);
    }
    if (f === "state") el.dataset.state = String(value);
    el.textContent = formats[f](value);
  };

  let pairs = {};
  const direction = (origin) => (origin === "miro" ? "Miro → monday" : "monday → Miro");
  const link = (url, label) => {
    const a = document.createElement("a");
    a.className = "ext";
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener";
    a.textContent = label;
    return a;
  };
  const enc = encodeURIComponent;
  const itemLinks = (td, pair, row) => {
    const miro = row.origin === "miro" ? row.item : row.miro_item;
    const monday = row.origin === "monday" ? row.item : row.monday_item;
    if (!pair) return;
    if (miro && !miro.startsWith("pending:")) {
      td.append(" ", link(`https://miro.com/app/board/${enc(pair.miro_board)}/?moveToWidget=${enc(miro)}`, "Miro"));
    }
    if (monday && !monday.startsWith("pending:")) {
      td.append(" ", link(`https://monday.com/boards/${enc(pair.monday_board)}/pulses/${enc(monday)}`, "monday"));
    }
  };
  // The same row pages.rs renders (change_row).
  const changeRow = (row, withPair) => {
    const tr = document.createElement("tr");
    tr.className = "fresh";
    const cell = (text, cls) => {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      if (text != null) td.textContent = text;
      tr.append(td);
      return td;
    };
    const when = cell(ago(row.at));
    when.dataset.f = "ago";
    when.dataset.at = String(row.at);
    const pair = pairs[row.pair];
    if (withPair) {
      const a = document.createElement("a");
      a.href = `/pairs/${enc(row.pair)}`;
      a.textContent = pair ? pair.name : row.pair;
      cell(null).append(a);
    }
    cell(direction(row.origin));
    const item = cell(null, "item");
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = row.title || row.item;
    item.append(title);
    itemLinks(item, pair, row);
    const outcome = document.createElement("span");
    outcome.className = "outcome";
    outcome.dataset.outcome = row.outcome;
    outcome.textContent = row.outcome;
    cell(null).append(outcome);
    cell(row.detail || "", "detail");
    return tr;
  };

  const onStatus = (status) => {
    pairs = {};
    for (const pair of status.pairs) {
      pairs[pair.slug] = pair;
      for (const card of document.querySelectorAll("[data-pair]")) {
        if (card.dataset.pair !== pair.slug) continue;
        card.dataset.state = pair.state.level;
        for (const el of card.querySelectorAll("[data-k]")) show(el, get(pair, el.dataset.k));
      }
    }
    for (const el of document.querySelectorAll("[data-g]")) show(el, get(status, el.dataset.g));
    const total = (field) => status.pairs.reduce((sum, p) => sum + (get(p, field) || 0), 0);
    for (const el of document.querySelectorAll("[data-total]")) el.textContent = String(total(el.dataset.total));
    for (const el of document.querySelectorAll("[data-changed]")) {
      el.hidden = total(el.dataset.changed) === Number(el.dataset.count);
    }
  };

  const onChange = (row) => {
    for (const tbody of document.querySelectorAll("tbody[data-changes]")) {
      const wanted = tbody.dataset.changes;
      if (wanted !== "*" && wanted !== row.pair) continue;
      tbody.prepend(changeRow(row, tbody.dataset.withPair === "1"));
      while (tbody.rows.length > 100) tbody.deleteRow(-1);
      const empty = tbody.closest("table").nextElementSibling;
      if (empty && empty.classList.contains("empty")) empty.remove();
    }
  };

  const stream = new EventSource(body.dataset.stream);
  stream.addEventListener("open", () => body.classList.add("live"));
  stream.addEventListener("error", () => body.classList.remove("live"));
  stream.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
  stream.addEventListener("change", (e) => onChange(JSON.parse(e.data)));

  setInterval(() => {
    for (const el of document.querySelectorAll("[data-at]")) el.textContent = ago(Number(el.dataset.at));
  }, 1000);
})();
