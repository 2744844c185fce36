// Cameras: every camera of the home with its live still and what is shared of it; the
// editor draws masks on the still and shows "What the city sees": the same still rendered
// by the add-on through exactly the city's pipeline (POST /control/v1/preview).
import { STYLES, html, render } from "./common.js";
import "./mask-editor.js";

const STILL_REFRESH_MS = 10000;
const PREVIEW_DELAY_MS = 700;
// The recorder select's "Frigate camera by name…": the name is typed, for a Frigate that
// Home Assistant has no integration for (or knows by other names). Never a recorderValue().
const FRIGATE_BY_NAME = "frigate-by-name";
// Frigate's own rule for camera names (letters, digits, _ and -), at most the add-on's 64;
// the integration checks the same (cameras.py) and its refusal is shown here too.
const FRIGATE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function frigateNameError(name) {
  if (name === "") return "Type the camera's name as it is in Frigate's configuration.";
  if (FRIGATE_NAME.test(name)) return "";
  if (name.length > 64) return "A Frigate camera name has at most 64 characters.";
  return `“${name}” is not a Frigate camera name: Frigate names have only letters, digits, _ and -.`;
}

function recorderValue(recorder) {
  if (!recorder) return "none";
  return recorder.source === "frigate" ? `frigate:${recorder.camera}` : recorder.source;
}

function recorderFrom(value) {
  if (value === "none") return null;
  if (value.startsWith("frigate:")) return { source: "frigate", camera: value.slice(8) };
  return { source: value };
}

function recorderTitle(recorder) {
  if (!recorder) return "No recordings";
  return recorder.source === "frigate" ? `Frigate: ${recorder.camera}` : "UniFi Protect";
}

class RtccCamerasView extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._hass = null;
    this._state = null;
    this._editing = null; // entity id
    this._draft = null;
    this._message = "";
    this._error = "";
    this._busy = false;
    this._preview = null; // data URL
    this._previewError = "";
    this.shadowRoot.addEventListener("click", (ev) => this._click(ev));
    this.shadowRoot.addEventListener("input", (ev) => this._input(ev));
    this.shadowRoot.addEventListener("change", (ev) => this._input(ev));
    this.shadowRoot.addEventListener("masks-changed", (ev) => {
      this._draft.masks = ev.detail.masks;
      this._schedulePreview();
    });
  }

  set hass(hass) {
    this._hass = hass;
    if (!this._editing && this._state) this._renderListStills();
  }

  set state(state) {
    this._state = state;
    if (!this._editing) this._render();
  }

  connectedCallback() {
    this._timer = setInterval(() => this._refreshStill(), STILL_REFRESH_MS);
  }

  disconnectedCallback() {
    clearInterval(this._timer);
    clearTimeout(this._previewTimer);
  }

  _picture(entityId) {
    const state = this._hass && this._hass.states[entityId];
    return state && state.attributes.entity_picture ? state.attributes.entity_picture : "";
  }

  _camera(entityId) {
    return this._state.cameras.find((c) => c.entity_id === entityId);
  }

  _refreshStill() {
    if (!this._editing) return;
    const editor = this.shadowRoot.querySelector("rtcc-mask-editor");
    const url = this._picture(this._editing);
    if (editor && url) editor.src = `${url}${url.includes("?") ? "&" : "?"}t=${Date.now()}`;
  }

  _edit(entityId) {
    const camera = this._camera(entityId);
    this._editing = entityId;
    this._draft = {
      share: camera.in_policy ? camera.share : true,
      // Never the entity id: a camera without a name starts with no label ("Camera N").
      label: camera.in_policy ? (camera.label ?? "") : (camera.name ?? ""),
      masks: camera.masks,
      max_width: camera.max_width,
      max_fps: camera.max_fps,
      recorder: camera.in_policy ? camera.recorder : camera.suggested_recorder,
      byName: false, // "Frigate camera by name…" chosen
      frigateName: "",
    };
    if (this._draft.recorder && this._draft.recorder.source === "frigate") {
      this._draft.frigateName = this._draft.recorder.camera;
    }
    this._nameError = "";
    this._message = "";
    this._error = "";
    this._preview = null;
    this._previewError = "";
    this._render();
    const editor = this.shadowRoot.querySelector("rtcc-mask-editor");
    editor.masks = this._draft.masks;
    editor.src = this._picture(entityId);
    this.shadowRoot.querySelector("#label").focus();
  }

  _close() {
    const entityId = this._editing;
    this._editing = null;
    this._draft = null;
    this._render();
    const button = this.shadowRoot.querySelector(`[data-edit="${CSS.escape(entityId)}"]`);
    if (button) button.focus();
  }

  _input(ev) {
    if (!this._draft) return;
    const field = ev.target;
    if (field.id === "share") this._draft.share = field.checked;
    else if (field.id === "label") this._draft.label = field.value;
    else if (field.id === "max-width") {
      this._draft.max_width = field.value === "" ? null : Number(field.value);
      if (ev.type === "change") this._schedulePreview();
    } else if (field.id === "max-fps") this._draft.max_fps = field.value === "" ? 2 : Number(field.value);
    else if (field.id === "recorder") this._chooseRecorder(field.value);
    else if (field.id === "frigate-name") {
      this._draft.frigateName = field.value;
      // An error shown goes as soon as the name is right; a new one waits for Save (not
      // for leaving the field: a line of error appearing as the mouse goes down on Save
      // would move the button away before the click).
      if (this._nameError) {
        this._nameError = frigateNameError(field.value.trim());
        this._renderNameError();
      }
    }
  }

  _chooseRecorder(value) {
    const d = this._draft;
    d.byName = value === FRIGATE_BY_NAME;
    if (!d.byName) d.recorder = recorderFrom(value);
    this._nameError = "";
    const box = this.shadowRoot.querySelector(".frigate-name");
    if (box) box.hidden = !d.byName;
    this._renderNameError();
  }

  _renderNameError() {
    const field = this.shadowRoot.querySelector("#frigate-name");
    const error = this.shadowRoot.querySelector("#frigate-name-error");
    if (!field || !error) return;
    error.textContent = this._nameError;
    field.setAttribute("aria-invalid", this._nameError ? "true" : "false");
  }

  /** The recorder to save, or undefined when the typed Frigate name is not one. */
  _recorderToSave() {
    const d = this._draft;
    if (!d.byName) return d.recorder;
    // Frigate names have no spaces: the ones around a pasted name are not part of it.
    const name = d.frigateName.trim();
    this._nameError = frigateNameError(name);
    this._renderNameError();
    if (this._nameError) {
      this.shadowRoot.querySelector("#frigate-name").focus();
      return undefined;
    }
    return { source: "frigate", camera: name };
  }

  async _save() {
    const d = this._draft;
    const recorder = this._recorderToSave();
    if (recorder === undefined) return; // the name field says why; nothing is sent
    this._busy = true;
    this._error = "";
    this._message = "";
    this._renderStatus();
    try {
      const result = await this.call("camera/save", {
        entity_id: this._editing,
        share: d.share,
        label: d.label.trim() === "" ? null : d.label,
        masks: d.masks,
        max_width: d.max_width,
        max_fps: d.max_fps,
        recorder,
      });
      this._message = `Saved. The city sees this camera as “${result.public_label}”${
        d.share ? "" : " (not shared now)"
      }.`;
      this._schedulePreview(0);
    } catch (err) {
      if (err.translationKey === "invalid_frigate_camera") {
        this._nameError = err.message; // the integration's own words, at the field
        this._renderNameError();
      } else this._error = err.message;
    } finally {
      this._busy = false;
      this._renderStatus();
    }
  }

  async _remove() {
    this._busy = true;
    this._renderStatus();
    try {
      await this.call("camera/remove", { entity_id: this._editing });
      this._busy = false;
      this._close();
    } catch (err) {
      this._busy = false;
      this._error = err.message;
      this._renderStatus();
    }
  }

  _schedulePreview(delay = PREVIEW_DELAY_MS) {
    if (this._preview === null && delay !== 0) return; // only once the owner asked for it
    clearTimeout(this._previewTimer);
    this._previewTimer = setTimeout(() => this._loadPreview(), delay);
  }

  async _loadPreview() {
    if (!this._editing) return;
    const d = this._draft;
    const box = this.shadowRoot.querySelector(".preview");
    if (box) box.setAttribute("aria-busy", "true");
    try {
      const result = await this.call("preview", {
        entity_id: this._editing,
        masks: d.masks,
        max_width: d.max_width,
      });
      this._preview = `data:${result.content_type};base64,${result.image}`;
      this._previewError = "";
    } catch (err) {
      this._previewError = err.message;
    }
    this._renderPreview();
  }

  _click(ev) {
    const button = ev.target.closest("button");
    if (!button || button.disabled) return;
    if (button.dataset.edit) this._edit(button.dataset.edit);
    else if (button.dataset.action === "close") this._close();
    else if (button.dataset.action === "save") this._save();
    else if (button.dataset.action === "remove") this._remove();
    else if (button.dataset.action === "preview") {
      this._preview = this._preview || "";
      this._schedulePreview(0);
    }
  }

  _renderListStills() {
    for (const img of this.shadowRoot.querySelectorAll("img[data-still]")) {
      const url = this._picture(img.dataset.still);
      if (url && img.getAttribute("src") !== url) img.setAttribute("src", url);
    }
  }

  _renderStatus() {
    const box = this.shadowRoot.querySelector(".status");
    if (!box) return;
    render(
      box,
      html`${this._message ? html`<div class="banner info" role="status">${this._message}</div>` : ""}
      ${this._error ? html`<div class="banner warning" role="alert">${this._error}</div>` : ""}`,
    );
    for (const button of this.shadowRoot.querySelectorAll("[data-action=save], [data-action=remove]")) {
      button.disabled = this._busy;
    }
  }

  _renderPreview() {
    const box = this.shadowRoot.querySelector(".preview");
    if (!box) return;
    box.removeAttribute("aria-busy");
    const img = box.querySelector("img");
    const error = box.querySelector(".preview-error");
    if (this._preview) {
      img.src = this._preview;
      img.hidden = false;
    }
    error.textContent = this._previewError;
  }

  _render() {
    if (!this._state) return;
    if (this._editing) {
      this._renderEditor();
      return;
    }
    const cameras = this._state.cameras;
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          .grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); }
          .grid .card { margin: 0; display: flex; flex-direction: column; gap: 6px; }
          .grid img { width: 100%; aspect-ratio: 16 / 9; object-fit: cover; border-radius: 8px; background: #222; }
        </style>
        <div class="status"></div>
        <p class="muted">
          Choose what the city may see. A camera you do not share is never part of a request;
          masks black out what must never leave your home.
        </p>
        ${cameras.length
          ? html`<div class="grid">
              ${cameras.map(
                (c) => html`<article class="card" data-camera="${c.entity_id}">
                  <img data-still="${c.entity_id}" src="${this._picture(c.entity_id)}" alt="${c.name || c.entity_id}" />
                  <div class="row">
                    <h3 class="grow">${c.name || c.entity_id}</h3>
                    <span class="badge ${c.in_policy && c.share ? "on" : ""}">${
                      c.in_policy ? (c.share ? "Shared" : "Not shared") : "Not in sharing"
                    }</span>
                  </div>
                  <p class="muted">
                    ${c.in_policy
                      ? html`The city sees “${c.public_label}” · ${c.masks.length} mask(s) ·
                        ${c.max_width ? `${c.max_width} px` : "full size"} · ${c.max_fps} fps ·
                        ${recorderTitle(c.recorder)}`
                      : "Not offered to the city."}
                  </p>
                  ${!c.exists ? html`<p class="error">Home Assistant has no such camera any more.</p>` : ""}
                  <div class="row">
                    <button data-edit="${c.entity_id}" data-key="edit-${c.entity_id}" ${c.exists ? "" : "disabled"}>
                      ${c.in_policy ? "Edit" : "Set up sharing"}
                    </button>
                  </div>
                </article>`,
              )}
            </div>`
          : html`<p>Home Assistant has no cameras yet.</p>`}`,
    );
    this._renderStatus();
  }

  _renderEditor() {
    const c = this._camera(this._editing);
    const d = this._draft;
    const choices = c.recorder_choices.map((r) => ({ ...r, value: recorderValue(r) }));
    const current = recorderValue(d.recorder);
    if (d.recorder && !choices.some((r) => r.value === current)) {
      choices.push({ ...d.recorder, value: current, suggested: false });
    }
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          .editor { display: grid; gap: 16px; grid-template-columns: minmax(0, 3fr) minmax(240px, 2fr); }
          @media (max-width: 800px) { .editor { grid-template-columns: minmax(0, 1fr); } }
          .fields input[type="text"], .fields input[type="number"], .fields select { width: 100%; }
          .preview img { width: 100%; max-width: 960px; border-radius: 8px; background: #222; }
          .fields div.field { display: flex; flex-direction: column; gap: 2px; margin: 6px 0; }
          .fields .field[hidden] { display: none; }
          .fields input[aria-invalid="true"] { border-color: var(--error-color, #db4437); }
        </style>
        <div class="row">
          <button data-action="close" data-key="close">← All cameras</button>
          <h2 class="grow">${c.name || c.entity_id}</h2>
        </div>
        <div class="status"></div>
        <div class="editor">
          <section class="card" aria-labelledby="mask-title">
            <h3 id="mask-title">Masks</h3>
            <p class="muted">Black out what the city must never see: a neighbour's window, a garden.</p>
            <rtcc-mask-editor></rtcc-mask-editor>
          </section>
          <section class="card fields" aria-labelledby="fields-title">
            <h3 id="fields-title">Sharing</h3>
            <label class="check"><input id="share" type="checkbox" data-key="share" ${d.share ? "checked" : ""} />
              Share this camera</label>
            <label class="field" for="label">Public label (what the city sees)
              <input id="label" type="text" maxlength="100" data-key="label" value="${d.label}"
                placeholder="${c.in_policy && !c.label ? c.public_label : "Camera N"}" />
              <span class="muted">Empty: the city sees “${c.in_policy && !c.label ? c.public_label : "Camera N"}”.</span>
            </label>
            <label class="field" for="max-width">Maximum width (pixels)
              <input id="max-width" type="number" min="16" max="7680" step="1" data-key="max-width"
                value="${d.max_width ?? ""}" placeholder="no limit" />
            </label>
            <label class="field" for="max-fps">Maximum frames per second (live view)
              <input id="max-fps" type="number" min="0.1" max="30" step="0.1" data-key="max-fps" value="${d.max_fps}" />
            </label>
            <label class="field" for="recorder">Recordings (for clips)
              <select id="recorder" data-key="recorder">
                <option value="none" ${current === "none" ? "selected" : ""}>No recordings</option>
                ${choices.map(
                  (r) => html`<option value="${r.value}" ${r.value === current ? "selected" : ""}>
                    ${recorderTitle(r)}${r.suggested ? " (found in Home Assistant)" : ""}
                  </option>`,
                )}
                <option value="${FRIGATE_BY_NAME}" ${d.byName ? "selected" : ""}>Frigate camera by name…</option>
              </select>
            </label>
            <div class="field frigate-name" ${d.byName ? "" : "hidden"}>
              <label for="frigate-name">Frigate camera name</label>
              <input id="frigate-name" type="text" data-key="frigate-name" value="${d.frigateName}"
                autocomplete="off" autocapitalize="off" spellcheck="false" placeholder="front_door"
                aria-describedby="frigate-name-help frigate-name-error" aria-invalid="false" />
              <span id="frigate-name-help" class="muted">As in Frigate's configuration (letters, digits, _ and -): for a Frigate that Home Assistant has no integration for, or knows by another name.</span>
              <span id="frigate-name-error" class="error" role="alert"></span>
            </div>
            <div class="row">
              <button class="primary" data-action="save" data-key="save">Save</button>
              <button data-action="preview" data-key="preview">What the city sees</button>
              ${c.in_policy
                ? html`<button class="danger" data-action="remove" data-key="remove">Stop offering this camera</button>`
                : ""}
            </div>
          </section>
        </div>
        <section class="card preview" aria-labelledby="preview-title" aria-live="polite">
          <h3 id="preview-title">What the city sees</h3>
          <p class="muted">The add-on's own rendering of the camera's still, with these masks and width, exactly as a city snapshot is made. Nothing is shared.</p>
          <img alt="What the city sees" hidden />
          <p class="preview-error error"></p>
        </section>`,
    );
    this._renderStatus();
    this._renderPreview();
  }
}

if (!customElements.get("rtcc-cameras-view")) customElements.define("rtcc-cameras-view", RtccCamerasView);
