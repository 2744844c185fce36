// Rules: the home-wide policy in the units a person thinks in (minutes, hours, metres),
// with excluded offenses as chips. The add-on checks everything again when it is saved.
import { STYLES, html, render } from "./common.js";

function draftOf(policy) {
  return {
    consent: policy.consent,
    mode: policy.mode,
    ask_timeout_min: policy.ask_timeout_s / 60,
    max_radius_m: policy.max_radius_m,
    max_duration_h: policy.max_duration_s / 3600,
    max_unlocks_per_week: policy.max_unlocks_per_week,
    allow_live: policy.allow_live,
    require_case_number: policy.require_case_number,
    excluded_offenses: [...policy.excluded_offenses],
    allow_clips: policy.allow_clips,
    max_clip_min: policy.max_clip_s / 60,
    max_clip_age_h: policy.max_clip_age_s / 3600,
  };
}

const round = (value) => Math.round(value);

class RtccRulesView extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._state = null;
    this._draft = null;
    this._revision = null;
    this._dirty = false;
    this._message = "";
    this._error = "";
    this._busy = false;
    this.shadowRoot.addEventListener("input", (ev) => this._input(ev));
    this.shadowRoot.addEventListener("change", (ev) => this._input(ev));
    this.shadowRoot.addEventListener("click", (ev) => this._click(ev));
    this.shadowRoot.addEventListener("keydown", (ev) => {
      if (ev.target.id === "offense" && ev.key === "Enter") {
        ev.preventDefault();
        this._addOffense();
      }
    });
    this.shadowRoot.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this._save();
    });
  }

  set hass(_hass) {}

  set state(state) {
    this._state = state;
    // A change saved elsewhere shows up here unless the owner is editing.
    if (!this._dirty && state.policy.revision !== this._revision) {
      this._revision = state.policy.revision;
      this._draft = draftOf(state.policy);
      this._render();
    } else if (!this._draft) {
      this._draft = draftOf(state.policy);
      this._render();
    }
  }

  _input(ev) {
    const f = ev.target;
    const d = this._draft;
    if (!f.name || !(f.name in d)) return;
    if (f.type === "checkbox") d[f.name] = f.checked;
    else if (f.type === "radio") {
      if (f.checked) d[f.name] = f.value;
    } else if (f.type === "number") d[f.name] = f.value === "" ? NaN : Number(f.value);
    else d[f.name] = f.value;
    this._dirty = true;
  }

  _addOffense() {
    const input = this.shadowRoot.querySelector("#offense");
    const value = input.value.trim().toLowerCase();
    if (!value) return;
    if (!this._draft.excluded_offenses.includes(value)) this._draft.excluded_offenses.push(value);
    this._dirty = true;
    input.value = "";
    this._render();
    this.shadowRoot.querySelector("#offense").focus();
  }

  _click(ev) {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "add-offense") this._addOffense();
    else if (button.dataset.action === "remove-offense") {
      const offense = button.dataset.offense;
      this._draft.excluded_offenses = this._draft.excluded_offenses.filter((o) => o !== offense);
      this._dirty = true;
      this._render();
      this.shadowRoot.querySelector("#offense").focus();
    } else if (button.dataset.action === "reset") {
      this._dirty = false;
      this._draft = draftOf(this._state.policy);
      this._message = "";
      this._error = "";
      this._render();
    }
  }

  async _save() {
    const d = this._draft;
    const numbers = ["ask_timeout_min", "max_radius_m", "max_duration_h", "max_unlocks_per_week", "max_clip_min", "max_clip_age_h"];
    if (numbers.some((n) => Number.isNaN(d[n]))) {
      this._error = "Fill in every number.";
      this._render();
      return;
    }
    this._busy = true;
    this._error = "";
    this._message = "";
    this._render();
    try {
      await this.call("rules", {
        consent: d.consent,
        mode: d.mode,
        ask_timeout_s: round(d.ask_timeout_min * 60),
        max_radius_m: d.max_radius_m,
        max_duration_s: round(d.max_duration_h * 3600),
        max_unlocks_per_week: round(d.max_unlocks_per_week),
        allow_live: d.allow_live,
        require_case_number: d.require_case_number,
        excluded_offenses: d.excluded_offenses,
        allow_clips: d.allow_clips,
        max_clip_s: round(d.max_clip_min * 60),
        max_clip_age_s: round(d.max_clip_age_h * 3600),
      });
      this._dirty = false;
      this._revision = null; // take the stored policy at the next update
      this._message = "Rules saved.";
    } catch (err) {
      this._error = err.message;
    } finally {
      this._busy = false;
      this._render();
    }
  }

  _render() {
    const d = this._draft;
    if (!d) return;
    const num = (name, label, unit, min, max, step, hint) => html`<label class="field" for="${name}">
        ${label}
        <span class="row"><input id="${name}" name="${name}" type="number" min="${min}" max="${max}" step="${step}"
          value="${Number.isNaN(d[name]) ? "" : d[name]}" data-key="${name}" /> <span class="muted">${unit}</span></span>
        ${hint ? html`<span class="muted">${hint}</span>` : ""}
      </label>`;
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          form { max-width: 720px; }
          input[type="number"] { width: 140px; }
          fieldset { border: none; padding: 0; margin: 6px 0; }
          legend { padding: 0; margin-bottom: 4px; }
          .chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
        </style>
        <div aria-live="polite">
          ${this._message ? html`<div class="banner info" role="status">${this._message}</div>` : ""}
          ${this._error ? html`<div class="banner warning" role="alert">${this._error}</div>` : ""}
        </div>
        <form class="card" aria-label="Sharing rules">
          <h2>Rules for the whole home</h2>
          <label class="check"><input type="checkbox" name="consent" data-key="consent" ${d.consent ? "checked" : ""} />
            <span><strong>Consent</strong>: share with the city when a request passes these rules</span></label>
          <fieldset>
            <legend>When a request comes</legend>
            <label class="check"><input type="radio" name="mode" value="auto" data-key="mode-auto" ${d.mode === "auto" ? "checked" : ""} />
              Share automatically (standing consent)</label>
            <label class="check"><input type="radio" name="mode" value="ask" data-key="mode-ask" ${d.mode === "ask" ? "checked" : ""} />
              Ask me each time</label>
          </fieldset>
          ${num("ask_timeout_min", "When I do not answer, decline after", "minutes", 1, 1440, 1, "")}
          ${num("max_radius_m", "Largest incident area", "metres", 50, 5000, 1, "The incident's circle must contain your home and be at most this large.")}
          ${num("max_duration_h", "Longest unlock", "hours", 0.25, 24, 0.25, "")}
          ${num("max_unlocks_per_week", "Requests per city per week", "", 0, 1000, 1, "More are refused.")}
          <label class="check"><input type="checkbox" name="allow_live" data-key="allow_live" ${d.allow_live ? "checked" : ""} />
            Allow live view (otherwise snapshots only)</label>
          <label class="check"><input type="checkbox" name="require_case_number" data-key="require_case_number" ${d.require_case_number ? "checked" : ""} />
            Require a case number</label>
          <label class="check"><input type="checkbox" name="allow_clips" data-key="allow_clips" ${d.allow_clips ? "checked" : ""} />
            Allow recorded clips</label>
          ${num("max_clip_min", "Longest clip", "minutes", 1, 120, 1, "")}
          ${num("max_clip_age_h", "Oldest footage", "hours", 1, 720, 1, "720 hours are 30 days.")}
          <fieldset>
            <legend>Never share for these offenses</legend>
            <div class="chips" role="list">
              ${d.excluded_offenses.map(
                (o) => html`<span class="chip" role="listitem">${o.replaceAll("_", " ")}
                  <button type="button" data-action="remove-offense" data-offense="${o}" data-key="remove-${o}"
                    aria-label="Remove ${o.replaceAll("_", " ")}">×</button></span>`,
              )}
            </div>
            <div class="row">
              <label class="sr-only" for="offense">Offense to exclude</label>
              <input id="offense" type="text" maxlength="200" placeholder="e.g. protest" data-key="offense" data-keep />
              <button type="button" data-action="add-offense" data-key="add-offense">Add</button>
            </div>
          </fieldset>
          <div class="row">
            <button type="submit" class="primary" data-key="save-rules" ${this._busy ? "disabled" : ""}>Save rules</button>
            <button type="button" data-action="reset" data-key="reset-rules">Undo changes</button>
          </div>
        </form>`,
    );
  }
}

if (!customElements.get("rtcc-rules-view")) customElements.define("rtcc-rules-view", RtccRulesView);
