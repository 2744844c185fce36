// Now: who can see what right now. Pending requests with Approve/Decline and a countdown,
// active unlocks with time left, who is viewing and Revoke, pausing and Revoke all.
import { STYLES, bytes, duration, html, localTime, render, statusWord } from "./common.js";

const PAUSES = [
  { minutes: 30, label: "30 minutes" },
  { minutes: 120, label: "2 hours" },
];

function tomorrowMorning() {
  const date = new Date();
  date.setDate(date.getDate() + 1);
  date.setHours(7, 0, 0, 0);
  return date;
}

class RtccNowView extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._state = null;
    this._busy = new Set();
    this._message = "";
    this._error = "";
    this._confirmAll = false;
    this._customPause = false;
    this._skew = 0;
    this.focusUnlock = null;
    this.shadowRoot.addEventListener("click", (ev) => this._click(ev));
    this.shadowRoot.addEventListener("submit", (ev) => this._submit(ev));
  }

  set hass(_hass) {}

  set state(state) {
    this._state = state;
    // The add-on's clock decides; count down against it, not against this device's.
    this._skew = new Date(state.now).getTime() - Date.now();
    this._render();
  }

  connectedCallback() {
    this._timer = setInterval(() => this._tick(), 1000);
  }

  disconnectedCallback() {
    clearInterval(this._timer);
  }

  _now() {
    return Date.now() + this._skew;
  }

  _left(iso) {
    return Math.max(0, (new Date(iso).getTime() - this._now()) / 1000);
  }

  _tick() {
    for (const el of this.shadowRoot.querySelectorAll("[data-until]")) {
      el.textContent = duration(this._left(el.dataset.until));
    }
  }

  async _do(key, type, data, done) {
    if (this._busy.has(key)) return;
    this._busy.add(key);
    this._error = "";
    this._render();
    try {
      await this.call(type, data);
      this._message = done;
    } catch (err) {
      this._error = err.message;
      this._message = "";
    } finally {
      this._busy.delete(key);
      this._render();
    }
  }

  _click(ev) {
    const button = ev.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    const { action, unlock } = button.dataset;
    const find = (id) => this._state.unlocks.find((u) => u.unlock_id === id);
    if (["approve", "decline", "revoke"].includes(action)) {
      const u = find(unlock);
      const words = { approve: "Approved", decline: "Declined", revoke: "Revoked" };
      const what = u ? `${u.hub_name}, incident ${u.incident_id}` : unlock;
      this._do(`${action}:${unlock}`, "unlock", { unlock_id: unlock, action }, `${words[action]}: ${what}.`);
    } else if (action === "pause") {
      const minutes = Number(button.dataset.minutes);
      this._do("pause", "pause", { minutes }, `Sharing paused for ${duration(minutes * 60)}.`);
    } else if (action === "pause-tomorrow") {
      const until = tomorrowMorning();
      this._do("pause", "pause", { until: until.toISOString() }, `Sharing paused until ${localTime(until.toISOString())}.`);
    } else if (action === "pause-custom") {
      this._customPause = !this._customPause;
      this._render();
      const input = this.shadowRoot.querySelector("#pause-until");
      if (input) input.focus();
    } else if (action === "resume") {
      this._do("resume", "resume", {}, "Sharing resumed.");
    } else if (action === "revoke-all") {
      this._confirmAll = true;
      this._render();
      this.shadowRoot.querySelector('[data-action="revoke-all-yes"]').focus();
    } else if (action === "revoke-all-no") {
      this._confirmAll = false;
      this._render();
      this.shadowRoot.querySelector('[data-action="revoke-all"]').focus();
    } else if (action === "revoke-all-yes") {
      this._confirmAll = false;
      this._do("revoke-all", "revoke_all", {}, "Every unlock was revoked.");
    } else if (action === "consent-on") {
      this._do("consent", "rules", { consent: true }, "Consent is on: requests that pass your rules are shared.");
    }
  }

  _submit(ev) {
    ev.preventDefault();
    const input = this.shadowRoot.querySelector("#pause-until");
    if (!input || !input.value) {
      this._error = "Choose when the pause ends.";
      this._render();
      return;
    }
    const until = new Date(input.value);
    this._customPause = false;
    this._do("pause", "pause", { until: until.toISOString() }, `Sharing paused until ${localTime(until.toISOString())}.`);
  }

  _unlockCard(u) {
    const pending = u.status === "pending";
    const busy = (a) => this._busy.has(`${a}:${u.unlock_id}`);
    const cameras = u.cameras.map((c) => c.label).join(", ") || "none";
    const highlight = this.focusUnlock === u.unlock_id;
    return html`<article
      class="card unlock ${pending ? "pending" : ""} ${highlight ? "focus" : ""}"
      data-unlock="${u.unlock_id}"
      aria-label="${u.hub_name}, incident ${u.incident_id}"
    >
      <div class="row">
        <h3 class="grow">${u.hub_name}</h3>
        <span class="badge ${u.status === "active" ? "on" : ""}">${statusWord(u.status)}</span>
      </div>
      <p>
        Incident <strong>${u.incident_id}</strong> · ${u.offense}
        ${u.case_number ? html` · case ${u.case_number}` : html` · <span class="muted">no case number</span>`}
      </p>
      ${u.summary ? html`<p class="muted">${u.summary}</p>` : ""}
      <p>Cameras: ${cameras} · ${u.scope.includes("stream") ? "snapshots and live view" : "snapshots"}</p>
      ${pending
        ? html`<p>
            Decide within <strong data-until="${u.decides_by}">${duration(this._left(u.decides_by))}</strong>
            <span class="muted">(declined by itself at ${localTime(u.decides_by, false)})</span>
          </p>`
        : html`<p>
            Time left <strong data-until="${u.expires_at}">${duration(this._left(u.expires_at))}</strong>
            <span class="muted">(until ${localTime(u.expires_at, false)})</span>
          </p>`}
      ${u.viewing.length
        ? html`<p class="viewing-now"><strong>Viewing now:</strong> ${u.viewing.join(", ")}${
            u.viewers ? ` (${u.viewers} live view${u.viewers > 1 ? "s" : ""} open)` : ""
          }</p>`
        : ""}
      ${!pending
        ? html`<p class="muted">Sent so far: ${u.snapshots} snapshots, ${u.frames} frames, ${bytes(u.bytes)}</p>`
        : ""}
      <div class="row">
        ${pending
          ? html`<button class="primary" data-action="approve" data-unlock="${u.unlock_id}"
                data-key="approve-${u.unlock_id}" ${busy("approve") ? "disabled" : ""}>Approve</button>
              <button class="danger" data-action="decline" data-unlock="${u.unlock_id}"
                data-key="decline-${u.unlock_id}" ${busy("decline") ? "disabled" : ""}>Decline</button>`
          : html`<button class="danger" data-action="revoke" data-unlock="${u.unlock_id}"
              data-key="revoke-${u.unlock_id}" ${busy("revoke") ? "disabled" : ""}
              aria-label="Revoke ${u.hub_name} incident ${u.incident_id}">Revoke</button>`}
      </div>
    </article>`;
  }

  /** "Street (front of house) — Jackson RTCC, incidents I-1, I-2": one line per city. */
  _viewingWords(viewing) {
    const byHub = new Map();
    for (const v of viewing) {
      const entry = byHub.get(v.hub_name) || { cameras: new Set(), incidents: new Set() };
      entry.cameras.add(v.camera);
      if (v.incident_id) entry.incidents.add(v.incident_id);
      byHub.set(v.hub_name, entry);
    }
    return [...byHub]
      .map(([hub, e]) => {
        const incidents = [...e.incidents];
        const which = incidents.length ? `, incident${incidents.length > 1 ? "s" : ""} ${incidents.join(", ")}` : "";
        return `${[...e.cameras].join(", ")} — ${hub}${which}`;
      })
      .join("; ");
  }

  _render() {
    const s = this._state;
    if (!s) return;
    const policy = s.policy;
    const pending = s.unlocks.filter((u) => u.status === "pending");
    const open = s.unlocks.filter((u) => u.status !== "pending");
    const viewing = s.viewing;
    const paused = policy.paused_until;
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          .unlock.pending { border-color: var(--warning-color, #ffa600); border-width: 2px; }
          .unlock.focus { box-shadow: 0 0 0 3px var(--primary-color); }
          .viewing-now { color: var(--error-color, #db4437); }
          form.row input { flex: 1 1 200px; }
        </style>
        <div aria-live="polite" class="status">
          ${this._message ? html`<div class="banner info" role="status">${this._message}</div>` : ""}
          ${this._error ? html`<div class="banner warning error-text" role="alert">${this._error}</div>` : ""}
        </div>
        ${viewing.length
          ? html`<div class="banner viewing" role="status" data-banner="viewing">
              The city is viewing now: ${this._viewingWords(viewing)}
            </div>`
          : ""}
        ${!s.available
          ? html`<div class="banner warning" role="status">The add-on is not answering; it keeps enforcing your rules on its own.</div>`
          : ""}
        ${!policy.consent
          ? html`<div class="banner info" data-banner="consent">
              <span class="grow">Consent is off: nothing is shared and every request is declined.</span>
              <button data-action="consent-on" data-key="consent-on">Turn consent on</button>
            </div>`
          : ""}
        ${paused
          ? html`<div class="banner paused" data-banner="paused">
              <span class="grow">Sharing is paused until <strong>${localTime(paused)}</strong>
                (<span data-until="${paused}">${duration(this._left(paused))}</span> left).</span>
              <button data-action="resume" data-key="resume" ${this._busy.has("resume") ? "disabled" : ""}>Resume now</button>
            </div>`
          : ""}
        <section aria-labelledby="pending-title">
          <h2 id="pending-title">Waiting for you</h2>
          ${pending.length
            ? pending.map((u) => this._unlockCard(u))
            : html`<p class="muted">No request is waiting.</p>`}
        </section>
        <section aria-labelledby="open-title">
          <h2 id="open-title">Shared now</h2>
          ${open.length ? open.map((u) => this._unlockCard(u)) : html`<p class="muted">Nothing is shared right now.</p>`}
        </section>
        <section class="card" aria-labelledby="pause-title">
          <h2 id="pause-title">Pause sharing</h2>
          <p class="muted">While paused, nothing is shared: open views close and new requests are declined.</p>
          <div class="row">
            ${PAUSES.map(
              (p) => html`<button data-action="pause" data-minutes="${p.minutes}" data-key="pause-${p.minutes}"
                ${this._busy.has("pause") ? "disabled" : ""}>Pause ${p.label}</button>`,
            )}
            <button data-action="pause-tomorrow" data-key="pause-tomorrow" ${this._busy.has("pause") ? "disabled" : ""}>Until tomorrow 7:00</button>
            <button data-action="pause-custom" data-key="pause-custom" aria-expanded="${this._customPause}">Until…</button>
            ${paused ? html`<button data-action="resume" data-key="resume-2">Resume</button>` : ""}
          </div>
          ${this._customPause
            ? html`<form class="row" aria-label="Pause until a time">
                <label class="sr-only" for="pause-until">Pause until</label>
                <input id="pause-until" type="datetime-local" data-key="pause-until" data-keep required />
                <button type="submit" class="primary" data-key="pause-until-go">Pause</button>
              </form>`
            : ""}
        </section>
        <section class="card" aria-labelledby="revoke-title">
          <h2 id="revoke-title">Stop everything</h2>
          ${this._confirmAll
            ? html`<div class="row" role="group" aria-label="Confirm">
                <span class="grow">End every unlock now?</span>
                <button class="danger primary" data-action="revoke-all-yes" data-key="revoke-all-yes">Yes, revoke all</button>
                <button data-action="revoke-all-no" data-key="revoke-all-no">No</button>
              </div>`
            : html`<button class="danger" data-action="revoke-all" data-key="revoke-all"
                ${this._busy.has("revoke-all") ? "disabled" : ""}>Revoke all</button>`}
        </section>
        ${s.relays.length
          ? html`<section class="card" aria-labelledby="relay-title">
              <h2 id="relay-title">City connections</h2>
              ${s.relays.map(
                (r) => html`<p class="row">
                  <span class="badge ${r.connected ? "on" : "off"}">${r.connected ? "Connected" : "Down"}</span>
                  <span class="grow">${r.hub_name} <span class="muted">${r.url}</span></span>
                  ${!r.connected && r.last_error ? html`<span class="muted">${r.last_error}</span>` : ""}
                </p>`,
              )}
            </section>`
          : ""}`,
    );
    if (this.focusUnlock) {
      const card = this.shadowRoot.querySelector(`[data-unlock="${CSS.escape(this.focusUnlock)}"] button`);
      if (card) {
        card.focus();
        card.scrollIntoView({ block: "center" });
        this.focusUnlock = null;
      }
    }
  }
}

if (!customElements.get("rtcc-now-view")) customElements.define("rtcc-now-view", RtccNowView);
