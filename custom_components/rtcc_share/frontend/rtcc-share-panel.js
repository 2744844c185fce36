// The "Camera sharing" panel: what the city can see of this home, and the owner's controls.
// Home Assistant loads this module for the sidebar panel (panel_custom) and sets `hass`,
// `narrow`, `route` and `panel` on the element; everything else comes from the
// integration's websocket commands (rtcc_share/...), admin only.
import { STYLES, call, html, loadWords, render } from "./common.js";
import "./now-view.js";
import "./cameras-view.js";
import "./history-view.js";
import "./rules-view.js";

const VIEWS = [
  { id: "now", title: "Now", element: "rtcc-now-view" },
  { id: "cameras", title: "Cameras", element: "rtcc-cameras-view" },
  { id: "history", title: "History", element: "rtcc-history-view" },
  { id: "rules", title: "Rules", element: "rtcc-rules-view" },
];

class RtccSharePanel extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._hass = null;
    this._state = null;
    this._error = "";
    this._view = "now";
    this._unsubscribe = null;
    this._entryId = null;
    this._narrow = false;
    this._rendered = false;
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) {
      loadWords(hass).then(() => this._push());
      this._subscribe();
    }
    const menu = this.shadowRoot.querySelector("ha-menu-button");
    if (menu) menu.hass = hass;
    this._push();
  }

  get hass() {
    return this._hass;
  }

  set narrow(value) {
    this._narrow = value;
    const menu = this.shadowRoot.querySelector("ha-menu-button");
    if (menu) menu.narrow = value;
  }

  set route(_value) {}

  set panel(_value) {}

  connectedCallback() {
    const params = new URLSearchParams(window.location.search);
    const view = params.get("view");
    if (VIEWS.some((v) => v.id === view)) this._view = view;
    this._focusUnlock = params.get("unlock");
    this._render();
    if (this._hass && !this._unsubscribe) this._subscribe();
  }

  disconnectedCallback() {
    if (this._unsubscribe) {
      this._unsubscribe.then((unsub) => unsub()).catch(() => {});
      this._unsubscribe = null;
    }
  }

  _subscribe() {
    if (!this.isConnected || this._unsubscribe) return;
    const message = { type: "rtcc_share/subscribe" };
    if (this._entryId) message.entry_id = this._entryId;
    this._unsubscribe = this._hass.connection.subscribeMessage((state) => {
      this._state = state;
      this._error = "";
      this._push();
    }, message);
    this._unsubscribe.catch((err) => {
      this._unsubscribe = null;
      this._error = err.message || "The RTCC Share integration is not connected.";
      this._render();
    });
  }

  _switchEntry(entryId) {
    if (entryId === this._entryId) return;
    this._entryId = entryId;
    this.disconnectedCallback();
    this._state = null;
    this._subscribe();
  }

  _select(view, focus = false) {
    this._view = view;
    const url = new URL(window.location.href);
    url.searchParams.set("view", view);
    url.searchParams.delete("unlock");
    window.history.replaceState(window.history.state, "", url);
    this._render();
    if (focus) this.shadowRoot.querySelector(`[data-tab="${view}"]`).focus();
  }

  _render() {
    const state = this._state;
    const entries = state ? state.entries : [];
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          :host { min-height: 100%; }
          header {
            display: flex; align-items: center; gap: 8px;
            background: var(--app-header-background-color, var(--primary-color));
            color: var(--app-header-text-color, var(--text-primary-color, #fff));
            padding: 0 12px; min-height: 56px;
          }
          header h1 { font-size: 20px; font-weight: 400; margin: 0; flex: 1 1 auto; }
          header select { background: transparent; color: inherit; border-color: currentColor; }
          nav[role="tablist"] {
            display: flex; gap: 0; overflow-x: auto;
            background: var(--app-header-background-color, var(--primary-color));
          }
          nav button[role="tab"] {
            flex: 1 1 0; border: none; border-radius: 0; min-height: 44px;
            color: var(--app-header-text-color, var(--text-primary-color, #fff));
            border-bottom: 3px solid transparent; opacity: .8;
          }
          nav button[aria-selected="true"] { border-bottom-color: currentColor; opacity: 1; font-weight: 500; }
          nav button:focus-visible { outline-color: currentColor; outline-offset: -4px; }
          main { padding: 16px; max-width: 1100px; margin: 0 auto; }
          @media (max-width: 600px) { main { padding: 8px; } }
        </style>
        <header>
          <ha-menu-button></ha-menu-button>
          <h1>Camera sharing</h1>
          ${entries.length > 1
            ? html`<label class="sr-only" for="entry">Add-on</label>
                <select id="entry" data-key="entry">
                  ${entries.map(
                    (e) =>
                      html`<option value="${e.entry_id}" ${e.entry_id === state.entry_id ? "selected" : ""}>
                        ${e.title}
                      </option>`,
                  )}
                </select>`
            : ""}
        </header>
        <nav role="tablist" aria-label="Camera sharing views">
          ${VIEWS.map(
            (v) => html`<button
              role="tab"
              id="tab-${v.id}"
              data-tab="${v.id}"
              data-key="tab-${v.id}"
              aria-selected="${v.id === this._view}"
              aria-controls="view"
              tabindex="${v.id === this._view ? 0 : -1}"
            >
              ${v.title}
            </button>`,
          )}
        </nav>
        <main id="view" role="tabpanel" aria-labelledby="tab-${this._view}">
          ${this._error ? html`<div class="banner warning" role="alert">${this._error}</div>` : ""}
          <p class="muted" id="loading" ${state || this._error ? "hidden" : ""}>Loading…</p>
          <div id="slot"></div>
        </main>`,
    );
    const menu = this.shadowRoot.querySelector("ha-menu-button");
    if (menu) {
      menu.hass = this._hass;
      menu.narrow = this._narrow;
    }
    const nav = this.shadowRoot.querySelector("nav");
    nav.addEventListener("click", (ev) => {
      const tab = ev.target.closest("[data-tab]");
      if (tab) this._select(tab.dataset.tab);
    });
    nav.addEventListener("keydown", (ev) => {
      const index = VIEWS.findIndex((v) => v.id === this._view);
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: VIEWS.length - 1 - index };
      if (ev.key in moves) {
        ev.preventDefault();
        const next = (index + moves[ev.key] + VIEWS.length) % VIEWS.length;
        this._select(VIEWS[next].id, true);
      }
    });
    const entry = this.shadowRoot.querySelector("#entry");
    if (entry) entry.addEventListener("change", () => this._switchEntry(entry.value));
    this._rendered = true;
    this._viewElement = null;
    this._push();
  }

  _push() {
    if (!this._rendered) return;
    const slot = this.shadowRoot.querySelector("#slot");
    if (!slot || !this._state || !this._hass) return;
    this.shadowRoot.querySelector("#loading").hidden = true;
    const spec = VIEWS.find((v) => v.id === this._view);
    if (!this._viewElement || this._viewElement.localName !== spec.element) {
      slot.innerHTML = "";
      this._viewElement = document.createElement(spec.element);
      this._viewElement.call = (type, data) =>
        call(this._hass, type, { entry_id: this._state.entry_id, ...data });
      if (spec.id === "now" && this._focusUnlock) {
        this._viewElement.focusUnlock = this._focusUnlock;
        this._focusUnlock = null;
      }
      slot.appendChild(this._viewElement);
    }
    this._viewElement.hass = this._hass;
    this._viewElement.state = this._state;
  }
}

if (!customElements.get("rtcc-share-panel")) customElements.define("rtcc-share-panel", RtccSharePanel);
