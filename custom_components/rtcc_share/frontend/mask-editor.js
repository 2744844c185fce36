// The mask editor: polygons drawn on the camera's still, in the policy's coordinates
// (0..1 of the frame, origin top left: PROTOCOL.md section 2, the same as Frigate's
// relative coordinates). Plain SVG over the image; no drawing library needed.
//
// Mouse: click on the picture to start a mask and to add its points; click the first point
// (or Finish) to close it. Drag a point to move it; drag a "+" between two points to insert
// one; double-click a point to delete it. Click inside a mask to select it.
// Keyboard (the picture is focusable): Enter finishes, Escape cancels, Delete removes the
// selected point or mask, arrow keys move the selected point, Ctrl+Z undoes.
import { STYLES, html, render } from "./common.js";

const ROUND = 10000; // 4 decimals: a tenth of a pixel on a 1080p frame
const STEP = 0.005;
const MIN_POINTS = 3;
const MAX_POINTS = 100;
const MAX_MASKS = 32;

const clamp = (value) => Math.min(1, Math.max(0, Math.round(value * ROUND) / ROUND));
const copy = (masks) => masks.map((polygon) => polygon.map((point) => [point[0], point[1]]));

/**
 * Parse masks typed or pasted by the owner: JSON polygons ([[[x, y], ...], ...]) or one
 * Frigate zone/mask ("x1,y1,x2,y2,..." relative coordinates). Throws with a reason.
 */
export function parseCoordinates(text) {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("Nothing to add: paste coordinates first.");
  let polygons;
  if (trimmed.startsWith("[")) {
    let parsed;
    try {
      parsed = JSON.parse(trimmed);
    } catch (_err) {
      throw new Error("That is not valid JSON.");
    }
    polygons = Array.isArray(parsed[0]) && Array.isArray(parsed[0][0]) ? parsed : [parsed];
  } else {
    const numbers = trimmed.split(/[\s,]+/).filter(Boolean).map(Number);
    if (numbers.some((n) => Number.isNaN(n)) || numbers.length % 2) {
      throw new Error("Frigate coordinates are pairs of numbers: x1,y1,x2,y2,...");
    }
    const points = [];
    for (let i = 0; i < numbers.length; i += 2) points.push([numbers[i], numbers[i + 1]]);
    polygons = [points];
  }
  return polygons.map((polygon, index) => {
    if (!Array.isArray(polygon) || polygon.length < MIN_POINTS || polygon.length > MAX_POINTS) {
      throw new Error(`Mask ${index + 1} needs ${MIN_POINTS} to ${MAX_POINTS} points.`);
    }
    return polygon.map((point) => {
      if (
        !Array.isArray(point) ||
        point.length !== 2 ||
        !point.every((v) => typeof v === "number" && v >= 0 && v <= 1)
      ) {
        throw new Error(`Mask ${index + 1}: every point is [x, y] with numbers from 0 to 1.`);
      }
      return [clamp(point[0]), clamp(point[1])];
    });
  });
}

class RtccMaskEditor extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this._masks = [];
    this._undo = [];
    this._drawing = null; // points of the mask being drawn
    this._selected = null; // {poly, point} (point may be null)
    this._drag = null;
    this._size = { w: 1600, h: 900 };
    this._src = "";
    this._message = "";
  }

  set masks(value) {
    this._masks = copy(value || []);
    this._undo = [];
    this._drawing = null;
    this._selected = null;
    this._renderShape();
  }

  get masks() {
    return copy(this._masks);
  }

  set src(value) {
    if (value === this._src) return;
    this._src = value;
    const img = this.shadowRoot.querySelector("img");
    if (img) img.src = value || "";
  }

  connectedCallback() {
    if (this.shadowRoot.querySelector("svg")) return;
    render(
      this.shadowRoot,
      html`<style>
          ${STYLES}
          .stage { position: relative; line-height: 0; user-select: none; touch-action: none; }
          .stage img { width: 100%; display: block; border-radius: 8px; background: #222;
            min-height: 120px; }
          svg { position: absolute; inset: 0; width: 100%; height: 100%; cursor: crosshair; }
          svg:focus-visible { outline: 3px solid var(--primary-color); }
          polygon.mask { fill: rgba(0, 0, 0, 0.6); stroke: var(--primary-color, #03a9f4);
            stroke-width: 2; vector-effect: non-scaling-stroke; }
          polygon.mask.selected { stroke: var(--accent-color, #ff9800); stroke-width: 3; }
          polyline.drawing { fill: rgba(0, 0, 0, 0.35); stroke: var(--accent-color, #ff9800);
            stroke-width: 2; stroke-dasharray: 6 4; vector-effect: non-scaling-stroke; }
          circle.point { fill: #fff; stroke: var(--accent-color, #ff9800); stroke-width: 2;
            vector-effect: non-scaling-stroke; cursor: move; }
          circle.point.selected { fill: var(--accent-color, #ff9800); }
          circle.point.first { fill: var(--accent-color, #ff9800); }
          circle.mid { fill: var(--primary-color, #03a9f4); opacity: 0.85; cursor: copy; }
          .tools { margin-top: 8px; }
          textarea { width: 100%; min-height: 56px; font-family: monospace; font-size: 12px; }
        </style>
        <div class="stage">
          <img alt="Camera still" draggable="false" />
          <svg
            tabindex="0"
            role="application"
            aria-label="Mask editor: click to add points; Enter finishes a mask"
            data-key="mask-svg"
          ></svg>
        </div>
        <div class="row tools" role="toolbar" aria-label="Mask tools">
          <button data-action="new" data-key="mask-new">New mask</button>
          <button data-action="finish" data-key="mask-finish">Finish mask</button>
          <button data-action="delete-point" data-key="mask-del-point">Delete point</button>
          <button data-action="delete-mask" class="danger" data-key="mask-del-mask">
            Delete mask
          </button>
          <button data-action="undo" data-key="mask-undo">Undo</button>
        </div>
        <p class="muted hint" aria-live="polite"></p>
        <details>
          <summary>Coordinates (paste a Frigate zone or mask)</summary>
          <label class="field"
            >Paste <code>x1,y1,x2,y2,…</code> (Frigate) or JSON polygons
            <textarea data-key="mask-paste" name="paste"></textarea>
          </label>
          <div class="row">
            <button data-action="paste" data-key="mask-paste-add">Add these masks</button>
          </div>
          <p class="muted">Stored masks:</p>
          <textarea readonly name="current" data-key="mask-current"></textarea>
        </details>`,
    );
    const img = this.shadowRoot.querySelector("img");
    img.addEventListener("load", () => {
      if (img.naturalWidth && img.naturalHeight) {
        this._size = { w: img.naturalWidth, h: img.naturalHeight };
        this._renderShape();
      }
    });
    img.src = this._src || "";
    const svg = this.shadowRoot.querySelector("svg");
    svg.addEventListener("pointerdown", (ev) => this._pointerDown(ev));
    svg.addEventListener("pointermove", (ev) => this._pointerMove(ev));
    svg.addEventListener("pointerup", (ev) => this._pointerUp(ev));
    svg.addEventListener("keydown", (ev) => this._key(ev));
    this.shadowRoot.addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-action]");
      if (button) this._action(button.dataset.action);
    });
    this._renderShape();
  }

  // Geometry

  _point(ev) {
    const rect = this.shadowRoot.querySelector("svg").getBoundingClientRect();
    return [clamp((ev.clientX - rect.left) / rect.width), clamp((ev.clientY - rect.top) / rect.height)];
  }

  _radius(px) {
    const svg = this.shadowRoot.querySelector("svg");
    const width = svg ? svg.getBoundingClientRect().width : 0;
    return width ? (px * this._size.w) / width : px;
  }

  _xy(point) {
    return `${point[0] * this._size.w},${point[1] * this._size.h}`;
  }

  // Changes

  _remember() {
    this._undo.push(copy(this._masks));
    if (this._undo.length > 100) this._undo.shift();
  }

  _changed() {
    this._renderShape();
    this.dispatchEvent(
      new CustomEvent("masks-changed", { detail: { masks: this.masks }, bubbles: true, composed: true }),
    );
  }

  _say(text) {
    this._message = text;
    const hint = this.shadowRoot.querySelector(".hint");
    if (hint) hint.textContent = text;
  }

  _finish() {
    if (!this._drawing) return;
    if (this._drawing.length < MIN_POINTS) {
      this._say(`A mask needs at least ${MIN_POINTS} points.`);
      return;
    }
    if (this._masks.length >= MAX_MASKS) {
      this._say(`At most ${MAX_MASKS} masks.`);
      return;
    }
    this._remember();
    this._masks.push(this._drawing);
    this._selected = { poly: this._masks.length - 1, point: null };
    this._drawing = null;
    this._say("Mask added. Save to keep it; What the city sees shows it applied.");
    this._changed();
  }

  _deletePoint() {
    const sel = this._selected;
    if (this._drawing) {
      this._drawing.pop();
      if (!this._drawing.length) this._drawing = null;
      this._renderShape();
      return;
    }
    if (!sel || sel.point === null) {
      this._say("Select a point first (click it).");
      return;
    }
    const polygon = this._masks[sel.poly];
    if (polygon.length <= MIN_POINTS) {
      this._say(`A mask keeps at least ${MIN_POINTS} points; delete the mask instead.`);
      return;
    }
    this._remember();
    polygon.splice(sel.point, 1);
    this._selected = { poly: sel.poly, point: null };
    this._changed();
  }

  _deleteMask() {
    if (this._drawing) {
      this._drawing = null;
      this._renderShape();
      return;
    }
    const sel = this._selected;
    if (!sel) {
      this._say("Select a mask first (click inside it).");
      return;
    }
    this._remember();
    this._masks.splice(sel.poly, 1);
    this._selected = null;
    this._changed();
  }

  _action(action) {
    if (action === "new") {
      this._drawing = [];
      this._selected = null;
      this._say("Click on the picture to place the mask's points.");
      this._renderShape();
    } else if (action === "finish") {
      this._finish();
    } else if (action === "delete-point") {
      this._deletePoint();
    } else if (action === "delete-mask") {
      this._deleteMask();
    } else if (action === "undo") {
      if (this._drawing) {
        this._drawing = null;
        this._renderShape();
      } else if (this._undo.length) {
        this._masks = this._undo.pop();
        this._selected = null;
        this._changed();
      }
    } else if (action === "paste") {
      const area = this.shadowRoot.querySelector('textarea[name="paste"]');
      try {
        const added = parseCoordinates(area.value);
        if (this._masks.length + added.length > MAX_MASKS) throw new Error(`At most ${MAX_MASKS} masks.`);
        this._remember();
        this._masks.push(...added);
        area.value = "";
        this._say(`${added.length} mask(s) added.`);
        this._changed();
      } catch (err) {
        this._say(err.message);
      }
    }
  }

  // Pointer

  _pointerDown(ev) {
    if (ev.button !== 0) return;
    const svg = this.shadowRoot.querySelector("svg");
    svg.focus({ preventScroll: true });
    const target = ev.target;
    const d = target.dataset || {};
    if (target.classList.contains("point") && d.drawing !== undefined) {
      // The first point of the mask being drawn closes it.
      if (Number(d.point) === 0 && this._drawing.length >= MIN_POINTS) this._finish();
      return;
    }
    if (target.classList.contains("point")) {
      // A second press on the same point soon after is a double click: delete the point.
      // (The browser's own dblclick is lost: each press redraws the handles.)
      const key = `${d.poly}:${d.point}`;
      const now = ev.timeStamp;
      if (this._lastPress && this._lastPress.key === key && now - this._lastPress.at < 500) {
        this._lastPress = null;
        this._selected = { poly: Number(d.poly), point: Number(d.point) };
        this._deletePoint();
        return;
      }
      this._lastPress = { key, at: now };
      this._selected = { poly: Number(d.poly), point: Number(d.point) };
      this._drag = { moved: false };
      svg.setPointerCapture(ev.pointerId);
      this._renderShape();
      return;
    }
    if (target.classList.contains("mid")) {
      this._remember();
      const poly = Number(d.poly);
      const at = Number(d.after) + 1;
      this._masks[poly].splice(at, 0, this._point(ev));
      this._selected = { poly, point: at };
      this._drag = { moved: true };
      svg.setPointerCapture(ev.pointerId);
      this._changed();
      return;
    }
    if (target.classList.contains("mask") && !this._drawing) {
      this._selected = { poly: Number(d.poly), point: null };
      this._renderShape();
      return;
    }
    // The picture itself: a point of the mask being drawn (a new one if none is).
    if (!this._drawing) {
      this._drawing = [];
      this._selected = null;
    }
    if (this._drawing.length >= MAX_POINTS) {
      this._say(`A mask has at most ${MAX_POINTS} points.`);
      return;
    }
    this._drawing.push(this._point(ev));
    this._say(
      this._drawing.length < MIN_POINTS
        ? "Keep clicking to add points."
        : "Click the first point, press Enter or Finish mask to close it.",
    );
    this._renderShape();
  }

  _pointerMove(ev) {
    if (!this._drag || !this._selected || this._selected.point === null) return;
    if (!this._drag.moved) {
      this._remember();
      this._drag.moved = true;
    }
    this._masks[this._selected.poly][this._selected.point] = this._point(ev);
    this._renderShape();
  }

  _pointerUp(ev) {
    if (!this._drag) return;
    const moved = this._drag.moved;
    this._drag = null;
    const svg = this.shadowRoot.querySelector("svg");
    if (svg.hasPointerCapture(ev.pointerId)) svg.releasePointerCapture(ev.pointerId);
    if (moved) this._changed();
  }

  _key(ev) {
    const sel = this._selected;
    if (ev.key === "Enter") {
      this._finish();
    } else if (ev.key === "Escape") {
      this._drawing = null;
      this._selected = null;
      this._renderShape();
    } else if (ev.key === "Delete" || ev.key === "Backspace") {
      if (sel && sel.point !== null) this._deletePoint();
      else this._deleteMask();
    } else if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") {
      this._action("undo");
    } else if (ev.key.startsWith("Arrow") && sel && sel.point !== null) {
      const step = ev.shiftKey ? STEP * 4 : STEP;
      const [dx, dy] = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
      this._remember();
      const point = this._masks[sel.poly][sel.point];
      this._masks[sel.poly][sel.point] = [clamp(point[0] + dx), clamp(point[1] + dy)];
      this._changed();
    } else {
      return; // Tab and every other key keep their usual meaning
    }
    ev.preventDefault();
  }

  // Drawing

  _renderShape() {
    const svg = this.shadowRoot.querySelector("svg");
    if (!svg) return;
    const { w, h } = this._size;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const r = this._radius(7);
    const sel = this._selected;
    let out = "";
    this._masks.forEach((polygon, poly) => {
      const selected = sel && sel.poly === poly;
      out += `<polygon class="mask${selected ? " selected" : ""}" data-poly="${poly}" points="${polygon
        .map((p) => this._xy(p))
        .join(" ")}"><title>Mask ${poly + 1}</title></polygon>`;
    });
    if (sel && this._masks[sel.poly]) {
      const polygon = this._masks[sel.poly];
      polygon.forEach((point, index) => {
        const next = polygon[(index + 1) % polygon.length];
        const mid = [(point[0] + next[0]) / 2, (point[1] + next[1]) / 2];
        out += `<circle class="mid" data-poly="${sel.poly}" data-after="${index}" r="${r * 0.7}" cx="${
          mid[0] * w
        }" cy="${mid[1] * h}"><title>Insert a point</title></circle>`;
      });
      polygon.forEach((point, index) => {
        out += `<circle class="point${sel.point === index ? " selected" : ""}" data-poly="${
          sel.poly
        }" data-point="${index}" r="${r}" cx="${point[0] * w}" cy="${point[1] * h}"></circle>`;
      });
    }
    if (this._drawing) {
      out += `<polyline class="drawing" points="${this._drawing.map((p) => this._xy(p)).join(" ")}"></polyline>`;
      this._drawing.forEach((point, index) => {
        out += `<circle class="point${index === 0 ? " first" : ""}" data-drawing="" data-point="${index}" r="${
          index === 0 ? r * 1.3 : r
        }" cx="${point[0] * w}" cy="${point[1] * h}"></circle>`;
      });
    }
    svg.innerHTML = out;
    const current = this.shadowRoot.querySelector('textarea[name="current"]');
    if (current) current.value = JSON.stringify(this._masks);
    const finish = this.shadowRoot.querySelector('[data-action="finish"]');
    if (finish) finish.disabled = !this._drawing || this._drawing.length < MIN_POINTS;
    this.dataset.masks = String(this._masks.length);
    this.dataset.drawing = this._drawing ? String(this._drawing.length) : "";
  }
}

if (!customElements.get("rtcc-mask-editor")) customElements.define("rtcc-mask-editor", RtccMaskEditor);

