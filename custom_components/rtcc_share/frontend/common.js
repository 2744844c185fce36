// Shared helpers of the Camera sharing panel: templates, formatting, words, styles, and the
// websocket calls. Plain ES modules, no build step; Home Assistant serves this folder.

/** A string that is already HTML (from html`` or raw()). */
class Html {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

export const raw = (text) => new Html(text);

export function escape(value) {
  return String(value)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function part(value) {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  return escape(value);
}

/** Tagged template: every interpolation is escaped unless it is Html (or a list of Html). */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, index) => {
    out += part(value) + strings[index + 1];
  });
  return new Html(out);
}

/**
 * Replace a shadow root's content, keeping keyboard focus on the element with the same
 * data-key (a live update must never throw a keyboard user back to the top).
 */
export function render(root, content) {
  const active = root.activeElement;
  const key = active && active.dataset ? active.dataset.key : undefined;
  // Fields marked data-keep hold what the owner is typing; an update must not wipe it.
  const kept = new Map();
  for (const field of root.querySelectorAll("[data-keep][data-key]")) {
    kept.set(field.dataset.key, field.value);
  }
  root.innerHTML = part(content);
  for (const [fieldKey, value] of kept) {
    const field = root.querySelector(`[data-key="${CSS.escape(fieldKey)}"]`);
    if (field) field.value = value;
  }
  if (key) {
    const again = root.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// Words. Statuses and reasons come from the integration's translations (selector
// category) when Home Assistant has them loaded; these English words are the fallback.
const STATUS_WORDS = {
  received: "Received",
  pending: "Waiting for you",
  active: "Shared",
  suspended: "Paused",
  declined: "Declined",
  ended: "Ended",
};

const REASON_WORDS = {
  consent_off: "consent was off",
  paused: "sharing was paused",
  radius_too_large: "the area asked for is larger than you allow",
  outside_area: "outside your area",
  duration_too_long: "longer than you allow",
  excluded_offense: "an offense you exclude",
  case_number_required: "no case number",
  stream_not_allowed: "live view not allowed",
  clip_not_allowed: "recorded clips not allowed",
  footage_too_long: "footage window longer than you allow",
  footage_too_old: "footage older than you allow",
  no_camera_shared: "no camera shared",
  owner_declined: "you declined",
  ask_timeout: "you did not answer in time",
  expired: "its time window ended",
  revoked: "you revoked it",
  consent_withdrawn: "you withdrew consent",
  hub_closed: "the city closed it",
};

export const EVENT_WORDS = {
  unlock_received: "Request received",
  unlock_status: "Status changed",
  camera_removed: "Camera taken out",
  snapshot_served: "Snapshot sent",
  stream_opened: "Live view opened",
  stream_closed: "Live view closed",
  clip_requested: "Clip asked for",
  clip_prepared: "Clip made",
  clip_served: "Clip downloaded",
  clip_deleted: "Clip deleted",
};

let localize = null;

/** Load the integration's selector translations (statuses, reasons) once. */
export async function loadWords(hass) {
  if (localize || !hass || typeof hass.loadBackendTranslation !== "function") return;
  try {
    localize = await hass.loadBackendTranslation("selector", "rtcc_share");
    await hass.loadBackendTranslation("exceptions", "rtcc_share");
  } catch (_err) {
    localize = null;
  }
}

function translated(group, key, fallback) {
  if (localize && key) {
    const text = localize(`component.rtcc_share.selector.${group}.options.${key}`);
    if (text) return text;
  }
  return fallback[key] || key || "";
}

export const statusWord = (status) => translated("unlock_status", status, STATUS_WORDS);
export const reasonWord = (reason) => translated("reason", reason, REASON_WORDS);

/** "Declined — outside your area": for the owner only, the city never sees reasons. */
export function statusInWords(status, reason) {
  const word = statusWord(status);
  if (!reason || !["declined", "ended"].includes(status)) return word;
  return `${word} — ${reasonWord(reason)}`;
}

// Formatting

export function localTime(iso, withDate = true) {
  if (!iso) return "";
  const date = new Date(iso);
  const options = withDate
    ? { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" };
  return date.toLocaleString(undefined, options);
}

/** 75 -> "1 min 15 s", 7300 -> "2 h 1 min". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return s % 60 ? `${minutes} min ${s % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

export function bytes(count) {
  if (!count) return "0 B";
  const units = ["B", "kB", "MB", "GB"];
  let value = count;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

// Talking to the integration

export class CommandError extends Error {
  constructor(err) {
    super(messageOf(err));
    this.code = err && err.code;
    // Which refusal it is, so a view can show it at the field it is about.
    this.translationKey = err && err.translation_key;
  }
}

function messageOf(err) {
  if (!err) return "Unknown error";
  if (localize && err.translation_key && err.translation_domain) {
    const text = localize(
      `component.${err.translation_domain}.exceptions.${err.translation_key}.message`,
      err.translation_placeholders || {},
    );
    if (text) return text;
  }
  return err.message || String(err);
}

/** One websocket command of the integration; a refusal becomes a CommandError. */
export async function call(hass, type, data = {}) {
  try {
    return await hass.connection.sendMessagePromise({ type: `rtcc_share/${type}`, ...data });
  } catch (err) {
    throw new CommandError(err);
  }
}

export const STYLES = `
  :host {
    display: block;
    color: var(--primary-text-color);
    background: var(--primary-background-color);
    font-family: var(--ha-font-family-body, Roboto, Noto, sans-serif);
    font-size: 14px;
    line-height: 1.45;
  }
  *, *::before, *::after { box-sizing: border-box; }
  h2 { font-size: 18px; font-weight: 500; margin: 0 0 8px; }
  h3 { font-size: 15px; font-weight: 500; margin: 0 0 4px; }
  p { margin: 4px 0; }
  .card {
    background: var(--ha-card-background, var(--card-background-color, #fff));
    border-radius: var(--ha-card-border-radius, 12px);
    border: 1px solid var(--divider-color, rgba(0,0,0,.12));
    padding: 16px;
    margin: 0 0 12px;
  }
  .muted { color: var(--secondary-text-color); }
  .row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
  .grow { flex: 1 1 auto; min-width: 0; }
  button, .button {
    font: inherit;
    border-radius: 18px;
    border: 1px solid var(--primary-color);
    background: transparent;
    color: var(--primary-color);
    padding: 6px 14px;
    min-height: 36px;
    cursor: pointer;
  }
  button.primary { background: var(--primary-color); color: var(--text-primary-color, #fff); }
  button.danger { border-color: var(--error-color, #db4437); color: var(--error-color, #db4437); }
  button.danger.primary { background: var(--error-color, #db4437); color: #fff; }
  button:disabled { opacity: .5; cursor: default; }
  button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible,
  [tabindex]:focus-visible, a:focus-visible {
    outline: 2px solid var(--primary-color);
    outline-offset: 2px;
  }
  input, select, textarea {
    font: inherit;
    color: var(--primary-text-color);
    background: var(--secondary-background-color, transparent);
    border: 1px solid var(--divider-color, rgba(0,0,0,.3));
    border-radius: 6px;
    padding: 6px 8px;
    min-height: 36px;
    max-width: 100%;
  }
  label.field { display: flex; flex-direction: column; gap: 2px; margin: 6px 0; }
  label.check { display: flex; gap: 8px; align-items: center; margin: 6px 0; }
  label.check input { min-height: auto; width: 18px; height: 18px; }
  .banner {
    border-radius: 10px;
    padding: 10px 14px;
    margin: 0 0 12px;
    display: flex; flex-wrap: wrap; gap: 8px; align-items: center;
  }
  .banner.viewing { background: var(--error-color, #db4437); color: #fff; font-weight: 500; }
  .banner.paused, .banner.warning { background: var(--warning-color, #ffa600); color: #000; }
  .banner.info { background: var(--secondary-background-color, #e5e5e5); }
  .error { color: var(--error-color, #db4437); }
  .chip {
    display: inline-flex; align-items: center; gap: 4px;
    border-radius: 16px; padding: 2px 4px 2px 10px;
    background: var(--secondary-background-color, #e5e5e5);
  }
  .chip button { min-height: 24px; padding: 0 8px; border: none; }
  .badge {
    display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px;
    background: var(--secondary-background-color, #e5e5e5);
  }
  .badge.on { background: var(--success-color, #43a047); color: #fff; }
  .badge.off { background: var(--error-color, #db4437); color: #fff; }
  .sr-only {
    position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
  }
`;
