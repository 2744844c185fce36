// History: every unlock, newest first, in words; its access events on demand; a CSV of
// what is shown; and whether the add-on's hash-chained audit log still verifies.
import {
  EVENT_WORDS,
  STYLES,
  bytes,
  html,
  localTime,
  reasonWord,
  render,
  statusInWords,
  statusWord,
} from "./common.js";

const PAGE = 25;
const STATUSES = ["pending", "active", "suspended", "declined", "ended"];

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  // Quote everything; a cell starting like a formula is prefixed so spreadsheets show it as text.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

export function historyCsv(records) {
  const header = [
    "received", "city", "incident", "offense", "case number", "status", "reason",
    "shared from", "shared until", "cameras", "snapshots", "frames", "bytes", "clips",
  ];
  const rows = records.map((r) => [
    localTime(r.received),
    r.hub_name || r.hub,
    r.incident_id,
    r.offense,
    r.case_number,
    statusWord(r.status),
    r.reason ? reasonWord(r.reason) : "",
    localTime(r.start),
    localTime(r.end),
    r.cameras.join("; "),
    r.snapshots,
    r.frames,
    r.bytes,
    r.clips.map((c) => `${c.camera || ""} ${localTime(c.start)}–${localTime(c.end)} ${c.bytes ?? ""}`.trim()).join("; "),
  ]);
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

class RtccHistoryView extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._state = null;
    this._page = null;
    this._offset = 0;
    this._hub = "";
    this._status = "";
    this._open = new Map(); // unlock id -> events (or null while loading)
    this._audit = null;
    this._error = "";
    this._loadedFor = null;
    this.shadowRoot.addEventListener("click", (ev) => this._click(ev));
    this.shadowRoot.addEventListener("change", (ev) => this._change(ev));
  }

  set hass(_hass) {}

  set state(state) {
    const first = !this._state;
    this._state = state;
    // A new audit entry may change the page: reload it (a cheap in-memory read).
    const mark = JSON.stringify([state.counters, state.unlocks.map((u) => [u.unlock_id, u.status])]);
    if (first || mark !== this._loadedFor) {
      this._loadedFor = mark;
      this._load();
    }
  }

  _filters() {
    const data = {};
    if (this._hub) data.hub = this._hub;
    if (this._status) data.status = this._status;
    return data;
  }

  async _load() {
    try {
      this._page = await this.call("history", { offset: this._offset, limit: PAGE, ...this._filters() });
      this._error = "";
    } catch (err) {
      this._error = err.message;
    }
    this._render();
  }

  async _toggle(unlockId) {
    if (this._open.has(unlockId)) {
      this._open.delete(unlockId);
      this._render();
      return;
    }
    this._open.set(unlockId, null);
    this._render();
    try {
      const result = await this.call("history/unlock", { unlock_id: unlockId });
      this._open.set(unlockId, result);
    } catch (err) {
      this._open.set(unlockId, { error: err.message, events: [] });
    }
    this._render();
  }

  async _export() {
    try {
      const all = await this.call("history", { offset: 0, limit: this._page.kept, ...this._filters() });
      const blob = new Blob([historyCsv(all.records)], { type: "text/csv;charset=utf-8" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `camera-sharing-history-${new Date().toISOString().slice(0, 10)}.csv`;
      this.shadowRoot.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (err) {
      this._error = err.message;
      this._render();
    }
  }

  async _verify() {
    this._audit = { checking: true };
    this._render();
    try {
      this._audit = await this.call("audit", {});
    } catch (err) {
      this._audit = { error: err.message };
    }
    this._render();
  }

  _click(ev) {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "expand") this._toggle(button.dataset.unlock);
    else if (action === "older") {
      this._offset += PAGE;
      this._load();
    } else if (action === "newer") {
      this._offset = Math.max(0, this._offset - PAGE);
      this._load();
    } else if (action === "export") this._export();
    else if (action === "verify") this._verify();
  }

  _change(ev) {
    if (ev.target.id === "hub") this._hub = ev.target.value;
    else if (ev.target.id === "status") this._status = ev.target.value;
    else return;
    this._offset = 0;
    this._load();
  }

  _events(result) {
    if (result === null) return html`<p class="muted">Loading…</p>`;
    if (result.error) return html`<p class="error">${result.error}</p>`;
    if (!result.events.length) return html`<p class="muted">No access events.</p>`;
    return html`<ol class="events">
        ${result.events.map((e) => {
          const d = e.detail;
          let what = EVENT_WORDS[e.event] || e.event;
          if (e.event === "unlock_status") what = statusInWords(d.status, d.reason);
          const extra = [
            e.camera,
            d.frames !== undefined ? `${d.frames} frames` : "",
            d.bytes !== undefined ? bytes(d.bytes) : "",
            d.start && d.end ? `${localTime(d.start)}–${localTime(d.end, false)}` : "",
            e.event !== "unlock_status" && d.reason ? reasonWord(d.reason) : "",
          ].filter(Boolean);
          return html`<li><span class="muted">${localTime(e.ts)}</span> ${what}${extra.length ? ` · ${extra.join(" · ")}` : ""}</li>`;
        })}
      </ol>
      ${result.truncated ? html`<p class="muted">Only the first events are shown; the audit log has all.</p>` : ""}`;
  }

  _record(r) {
    const open = this._open.has(r.unlock_id);
    return html`<article class="card record" data-record="${r.unlock_id}">
      <div class="row">
        <h3 class="grow">${r.hub_name || r.hub} · incident ${r.incident_id || "?"}</h3>
        <span class="badge">${localTime(r.received)}</span>
      </div>
      <p><strong class="status-words">${statusInWords(r.status, r.reason)}</strong>
        · ${r.offense || ""}${r.case_number ? ` · case ${r.case_number}` : ""}</p>
      ${r.start ? html`<p class="muted">Shared ${localTime(r.start)}${r.end ? ` – ${localTime(r.end)}` : " – now"}</p>` : ""}
      ${r.cameras.length ? html`<p>Cameras: ${r.cameras.join(", ")}</p>` : ""}
      <p class="muted">${r.snapshots} snapshots · ${r.frames} frames · ${bytes(r.bytes)} sent</p>
      ${r.clips.length
        ? html`<ul class="clips">
            ${r.clips.map(
              (c) => html`<li>Clip${c.camera ? ` of ${c.camera}` : ""}: ${localTime(c.start)} – ${localTime(c.end, false)}
                ${c.bytes !== null ? ` · ${bytes(c.bytes)}` : ""} · ${c.status}${c.downloads ? ` · downloaded ${c.downloads}×` : ""}</li>`,
            )}
          </ul>`
        : ""}
      <button data-action="expand" data-unlock="${r.unlock_id}" data-key="expand-${r.unlock_id}" aria-expanded="${open}">
        ${open ? "Hide events" : "Show events"}
      </button>
      ${open ? this._events(this._open.get(r.unlock_id)) : ""}
    </article>`;
  }

  _render() {
    const page = this._page;
    const audit = this._audit;
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          .filters select { min-width: 160px; }
          ol.events { padding-left: 20px; margin: 8px 0 0; }
          code.head { word-break: break-all; }
        </style>
        ${this._error ? html`<div class="banner warning" role="alert">${this._error}</div>` : ""}
        <section class="card" aria-labelledby="audit-title">
          <h2 id="audit-title">Audit log</h2>
          <p class="muted">The add-on records every request and everything sent, each entry chained to the one before by its hash: a changed or deleted entry breaks the chain.</p>
          <div class="row">
            <button data-action="verify" data-key="verify">Verify the audit log</button>
            <button data-action="export" data-key="export" ${page ? "" : "disabled"}>Export CSV</button>
          </div>
          <div class="audit-result" role="status" aria-live="polite">
            ${audit && audit.checking ? html`<p class="muted">Checking…</p>` : ""}
            ${audit && audit.error ? html`<p class="error">${audit.error}</p>` : ""}
            ${audit && audit.ok === true
              ? html`<p><strong>The audit log verifies:</strong> ${audit.entries} entries, chain head
                  <code class="head">${audit.head}</code></p>`
              : ""}
            ${audit && audit.ok === false
              ? html`<p class="error"><strong>The audit log does not verify</strong> from entry ${audit.first_bad_seq} on (${audit.entries} entries).</p>`
              : ""}
          </div>
        </section>
        <div class="row filters" role="group" aria-label="Filter">
          <label class="field">City
            <select id="hub" data-key="hub">
              <option value="">All cities</option>
              ${(page ? page.hubs : []).map(
                (h) => html`<option value="${h.id}" ${h.id === this._hub ? "selected" : ""}>${h.name}</option>`,
              )}
            </select>
          </label>
          <label class="field">Status
            <select id="status" data-key="status">
              <option value="">Every status</option>
              ${STATUSES.map(
                (s) => html`<option value="${s}" ${s === this._status ? "selected" : ""}>${statusWord(s)}</option>`,
              )}
            </select>
          </label>
        </div>
        ${!page ? html`<p class="muted">Loading…</p>` : ""}
        ${page && !page.records.length ? html`<p class="muted">No unlock yet.</p>` : ""}
        ${page ? page.records.map((r) => this._record(r)) : ""}
        ${page && page.total > PAGE
          ? html`<div class="row">
              <button data-action="newer" data-key="newer" ${this._offset === 0 ? "disabled" : ""}>Newer</button>
              <span class="muted">${this._offset + 1}–${Math.min(page.total, this._offset + PAGE)} of ${page.total}</span>
              <button data-action="older" data-key="older" ${this._offset + PAGE >= page.total ? "disabled" : ""}>Older</button>
            </div>`
          : ""}`,
    );
  }
}

if (!customElements.get("rtcc-history-view")) customElements.define("rtcc-history-view", RtccHistoryView);
