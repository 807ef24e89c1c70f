// The status page: polls /status.json every 2 s and draws it; posts the regulator lookup.
// Plain DOM, no library: every value goes in through textContent, never as HTML.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777",
  "#0891b2", "#65a30d", "#9333ea", "#ea580c"];
const colorOf = new Map();

function color(name) {
  if (!colorOf.has(name)) colorOf.set(name, COLORS[colorOf.size % COLORS.length]);
  return colorOf.get(name);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

const count = (n) => Math.round(n).toLocaleString("en-US");
const pct = (r) => (r === null ? "–" : (100 * r).toFixed(r < 0.1 ? 2 : 1) + " %");

function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return (1000 * s).toFixed(s < 0.01 ? 1 : 0) + " ms";
  return s.toFixed(s < 10 ? 2 : 1) + " s";
}

function ago(then, now) {
  if (then === null) return "never";
  const s = Math.max(0, Math.round(now - then));
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function pairs(obj) {
  const entries = Object.entries(obj || {});
  return entries.length ? entries.map(([k, v]) => k + " " + count(v)).join(", ") : "–";
}

function cell(field, text, cls) {
  return el("td", cls ? { "data-field": field, class: cls } : { "data-field": field }, text);
}

function renderStages(stages) {
  const cards = document.getElementById("stage-cards");
  cards.replaceChildren(...stages.map((s) => {
    const state = s.ready === null ? "unknown" : s.ready ? "ready" : "not ready";
    const recovering = s.recovery_progress !== null && s.recovery_progress < 1;
    const rows = [
      ["lag", count(s.lag) + " records on " + s.partitions + " partitions"],
      ["recovery", s.recovery_progress === null ? "–" : pct(s.recovery_progress) +
        (recovering ? ", " + count(s.recovery_remaining || 0) + " records left" : "")],
      ["restarts", count(s.restarts)],
      ["dead letters", count(s.dead_letters)],
      ["commits", count(s.commits.count) + (s.commits.count ? ", p50 " +
        seconds(s.commits.p50_s) + ", p99 " + seconds(s.commits.p99_s) : "")],
    ];
    if (Object.keys(s.tenants_waiting).length) {
      rows.push(["tenants waiting", pairs(s.tenants_waiting)]);
    }
    const bad = s.ready === false || s.restarts > 0 || s.dead_letters > 0;
    return el("div", { class: "card " + (bad ? "bad" : "good"), "data-stage": s.stage },
      el("h3", {}, s.stage, " ", el("span", { class: "badge", "data-field": "ready" }, state)),
      el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, v)])));
  }));
}

function renderPlatforms(platforms, now) {
  document.getElementById("platform-rows").replaceChildren(...platforms.map((p) =>
    el("tr", { "data-platform": p.platform },
      el("th", { scope: "row" }, p.platform),
      cell("accepted", count(p.accepted), "num"),
      cell("last_record", ago(p.last_record_at, now)),
      cell("rejected", count(p.rejected), "num"),
      cell("reject_rate", pct(p.reject_rate), "num"),
      cell("reasons", pairs(p.rejects_by_reason)),
      cell("duplicates", count(p.duplicates), "num"),
      cell("disputes_open", p.disputes_open === null ? "–" : count(p.disputes_open), "num"),
      cell("disputes_overdue", p.disputes_overdue === null ? "–" : count(p.disputes_overdue),
        p.disputes_overdue ? "num warn" : "num"),
      cell("disputes", pairs(p.disputes)))));
  if (!platforms.length) {
    document.getElementById("platform-rows").append(
      el("tr", {}, el("td", { colspan: 10, class: "muted" }, "no records from any platform yet")));
  }
}

function renderBanks(banks) {
  document.getElementById("bank-rows").replaceChildren(...banks.map((b) =>
    el("tr", { "data-bank": b.bank },
      el("th", { scope: "row" }, b.bank),
      cell("deliveries", count(b.deliveries), "num"),
      cell("purposes", pairs(b.deliveries_by_purpose)),
      cell("consents", pairs(b.consent_requests)),
      cell("p50", seconds(b.latency.p50_s), "num"),
      cell("p99", seconds(b.latency.p99_s), "num"),
      cell("mean", seconds(b.latency.mean_s), "num"))));
  const withLatency = banks.filter((b) => b.latency.count > 0);
  const box = document.getElementById("latency-bars");
  if (!withLatency.length) {
    box.replaceChildren(el("p", { class: "muted" }, "no deliveries yet"));
    return;
  }
  const max = Math.max(...withLatency.map((b) => b.latency.p99_s || 0), 0.001);
  const rowH = 30, left = 110, width = 640, barW = width - left - 80;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${withLatency.length * rowH + 10}`,
    class: "bars", role: "img", "aria-label": "latency p50 and p99 per bank" });
  withLatency.forEach((b, i) => {
    const y = 5 + i * rowH;
    const label = svg("text", { x: 0, y: y + 17, class: "label" });
    label.textContent = b.bank;
    chart.append(label);
    [["p50_s", 0, 0.55], ["p99_s", 12, 1]].forEach(([key, dy, alpha]) => {
      const w = Math.max(1, (barW * (b.latency[key] || 0)) / max);
      chart.append(svg("rect", { x: left, y: y + dy, width: w, height: 11,
        fill: color(b.bank), "fill-opacity": alpha }));
      const t = svg("text", { x: left + w + 6, y: y + dy + 10, class: "value" });
      t.textContent = key.slice(0, 3) + " " + seconds(b.latency[key]);
      chart.append(t);
    });
  });
  box.replaceChildren(chart);
}

function lineChart(spec, times) {
  const W = 360, H = 150, L = 48, R = 8, T = 8, B = 22;
  const names = Object.keys(spec.lines);
  const values = names.flatMap((n) => spec.lines[n]).filter((v) => v !== null);
  const top = Math.max(...values, spec.unit === "s" ? 0.01 : 1) * 1.1;
  const t0 = times[0], t1 = times[times.length - 1];
  const x = (t) => L + ((W - L - R) * (t - t0)) / Math.max(1, t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": spec.title });
  chart.append(svg("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" }));
  for (const v of [top / 1.1, top / 2.2]) {
    chart.append(svg("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), class: "grid" }));
    const t = svg("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" });
    t.textContent = spec.unit === "s" ? seconds(v) : v.toFixed(v < 10 ? 1 : 0);
    chart.append(t);
  }
  const span = svg("text", { x: W - R, y: H - 6, class: "tick", "text-anchor": "end" });
  span.textContent = times.length ? "last " + Math.round((t1 - t0) / 60 * 10) / 10 + " min" : "";
  chart.append(span);
  for (const name of names) {
    let d = "";
    spec.lines[name].forEach((v, i) => {
      if (v === null) return;
      const prev = i > 0 ? spec.lines[name][i - 1] : null;
      d += (d && prev !== null ? "L" : "M") + x(times[i]).toFixed(1) + "," + y(v).toFixed(1);
    });
    if (d) chart.append(svg("path", { d, stroke: color(name), class: "series" }));
  }
  const legend = el("p", { class: "legend" }, ...names.map((n) =>
    el("span", {}, el("i", { class: "swatch", "data-color": color(n) }), n)));
  legend.querySelectorAll(".swatch").forEach((s) => { s.style.background = s.dataset.color; });
  return el("figure", { "data-chart": spec.id },
    el("figcaption", {}, spec.title + (spec.unit === "/s" ? " (per second)" : "")), chart, legend);
}

function renderCharts(charts, every) {
  const box = document.getElementById("charts");
  document.getElementById("window").textContent =
    "(a sample every " + every + " s, newest right)";
  if (charts.t.length < 2) {
    box.replaceChildren(el("p", { class: "muted" },
      "collecting samples: the charts appear after a few samples (" + every + " s apart)"));
    return;
  }
  box.replaceChildren(...charts.series.map((s) => lineChart(s, charts.t)));
}

function renderRegulator(reg) {
  const note = document.getElementById("lookup-disabled");
  note.hidden = reg.enabled;
  note.textContent = reg.enabled ? "" : "The lookup is disabled on this worker: " + reg.why + ".";
  document.getElementById("lookup-form").querySelector("button").disabled = !reg.enabled;
}

function render(m) {
  const w = m.worker;
  document.getElementById("worker").textContent =
    `worker ${w.worker_id || "?"} · app ${w.app_id || "?"} · version ${w.version || "?"}`;
  renderStages(m.stages);
  renderPlatforms(m.platforms, m.generated_at);
  renderBanks(m.banks);
  renderCharts(m.charts, m.sample_every_s);
  renderRegulator(m.regulator);
  document.getElementById("disputes-note").textContent = m.disputes_error
    ? "Objections could not be read from Kafka (" + m.disputes_error + ")."
    : "";
  const when = new Date(m.generated_at * 1000);
  const updated = document.getElementById("updated");
  updated.textContent = "updated " + when.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  updated.classList.remove("warn");
  document.body.dataset.generatedAt = String(m.generated_at);
}

async function poll() {
  try {
    const resp = await fetch("/status.json", { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    render(await resp.json());
  } catch (err) {
    const updated = document.getElementById("updated");
    updated.textContent = "the worker does not answer (" + err.message + "); retrying";
    updated.classList.add("warn");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function renderAnswer(status, answer) {
  const out = document.getElementById("lookup-result");
  out.dataset.status = String(status);
  if (status !== 200) {
    out.replaceChildren(el("p", { class: "warn" }, answer.error || "HTTP " + status));
    return;
  }
  const n = answer.deliveries.length;
  const perBank = new Map();
  for (const d of answer.deliveries) {
    const b = perBank.get(d.bank) || { n: 0, first: d.delivered_at, last: d.delivered_at,
      purposes: new Set() };
    b.n += 1;
    b.last = d.delivered_at > b.last ? d.delivered_at : b.last;
    b.first = d.delivered_at < b.first ? d.delivered_at : b.first;
    b.purposes.add(d.purpose);
    perBank.set(d.bank, b);
  }
  const head = (...names) => el("thead", {}, el("tr", {}, ...names.map((h) => el("th", {}, h))));
  const summary = [...perBank.entries()].sort().map(([bank, b]) =>
    el("tr", { "data-bank": bank }, el("th", { scope: "row" }, bank),
      el("td", { class: "num" }, count(b.n)), el("td", {}, [...b.purposes].join(", ")),
      el("td", {}, b.first), el("td", {}, b.last)));
  const rows = answer.deliveries.map((d) => el("tr", { "data-bank": d.bank },
    el("td", {}, d.delivered_at), el("td", { "data-field": "bank" }, d.bank),
    el("td", {}, d.purpose), el("td", {}, d.consent_ref), el("td", {}, d.customer_ref),
    el("td", { class: "num" }, "v" + d.profile_version)));
  out.replaceChildren(
    el("p", {}, `Borrower ${answer.borrower}: ${n} deliver${n === 1 ? "y" : "ies"} to `,
      el("strong", { id: "lookup-banks" }, [...perBank.keys()].sort().join(", ") || "no bank"),
      ". Audit chain: ",
      el("strong", { class: answer.chain_ok ? "ok" : "warn" },
        answer.chain_ok ? "verified" : "BROKEN: " + answer.problems.join("; "))),
    el("table", { id: "lookup-banks-table" },
      head("bank", "deliveries", "purposes", "first", "last"), el("tbody", {}, ...summary)),
    el("details", {}, el("summary", {}, `every delivery (${n})`),
      el("table", { id: "lookup-deliveries" },
        head("delivered at", "bank", "purpose", "consent", "customer ref", "profile"),
        el("tbody", {}, ...rows))));
}

function setupLookup() {
  const form = document.getElementById("lookup-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("lookup-result");
    out.dataset.status = "pending";
    out.replaceChildren(el("p", { class: "muted" }, "reading the audit trail…"));
    const body = new URLSearchParams(new FormData(form));
    document.getElementById("national-id").value = "";  // not left on screen
    try {
      const resp = await fetch(form.action, { method: "POST", body, cache: "no-store" });
      renderAnswer(resp.status, await resp.json());
    } catch (err) {
      renderAnswer(0, { error: "no answer from the worker (" + err.message + ")" });
    }
  });
}

setupLookup();
poll();
