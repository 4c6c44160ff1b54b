// The diagram pane: Graphviz's SVG in a scrolling canvas, zoomed by setting its size (so it
// stays sharp and native scrolling works). Ctrl/Cmd + wheel or the buttons zoom around a
// point, dragging pans, "Fit" shows it whole and "Width" fits its width (the default: a tall
// network reads top to bottom at a readable size).

const PT = 4 / 3; // Graphviz's units are points; 100% shows a point as 4/3 px, as dot means it
const MIN = 0.05;
const MAX = 4;
const READABLE = 0.85; // the smallest zoom at which Graphviz's 11 pt labels read comfortably

export class Diagram {
  constructor(canvas, zoomLabel) {
    this.canvas = canvas;
    this.zoomLabel = zoomLabel;
    this.stage = document.createElement("div");
    this.stage.className = "stage";
    canvas.appendChild(this.stage);
    this.svg = null;
    this.width = 0;
    this.height = 0;
    this.scale = 1;
    canvas.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    canvas.addEventListener("pointerdown", (e) => this.onDown(e));
  }

  // Show new SVG text. With `refit`, fit it to the width; otherwise keep the zoom and the
  // place in the diagram (the network is the same, being edited).
  show(text, refit) {
    const doc = new DOMParser().parseFromString(text, "image/svg+xml");
    const svg = doc.documentElement;
    if (!svg || svg.nodeName !== "svg") return;
    for (const s of svg.querySelectorAll("script, foreignObject")) s.remove();
    const box = svg.viewBox && svg.viewBox.baseVal;
    this.width = box && box.width ? box.width : parseFloat(svg.getAttribute("width")) || 400;
    this.height = box && box.height ? box.height : parseFloat(svg.getAttribute("height")) || 400;
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMin meet");
    const node = document.importNode(svg, true);
    const keep = { left: this.canvas.scrollLeft, top: this.canvas.scrollTop };
    this.stage.replaceChildren(node);
    this.svg = node;
    if (refit || !this.fitted) {
      this.fitWidth();
      this.fitted = true;
      this.canvas.scrollTop = 0;
    } else {
      this.apply();
      this.canvas.scrollLeft = keep.left;
      this.canvas.scrollTop = keep.top;
    }
  }

  clear() {
    this.stage.replaceChildren();
    this.svg = null;
    this.fitted = false;
  }

  apply() {
    if (!this.svg) return;
    this.svg.style.width = `${Math.round(this.width * PT * this.scale)}px`;
    this.svg.style.height = `${Math.round(this.height * PT * this.scale)}px`;
    if (this.zoomLabel) this.zoomLabel.textContent = `${Math.round(this.scale * 100)}%`;
  }

  room() {
    const style = getComputedStyle(this.stage);
    const padX = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const padY = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    return { w: Math.max(50, this.canvas.clientWidth - padX), h: Math.max(50, this.canvas.clientHeight - padY) };
  }

  // Fit the width, but never below READABLE: a wide diagram then scrolls sideways, centred.
  fitWidth() {
    const { w } = this.room();
    this.scale = clamp(Math.max(READABLE, Math.min(1, w / (this.width * PT))));
    this.apply();
    this.canvas.scrollLeft = 0;
    if (this.height >= this.width) this.centreOn(this.svg.querySelector("g.node")); // top to bottom: the input
  }

  // Scroll sideways so that `element` (the input's box) is in the middle.
  centreOn(element) {
    if (!element) return;
    const box = element.getBoundingClientRect();
    const rect = this.canvas.getBoundingClientRect();
    this.canvas.scrollLeft += box.left + box.width / 2 - (rect.left + rect.width / 2);
  }

  fitAll() {
    const { w, h } = this.room();
    this.scale = clamp(Math.min(1, w / (this.width * PT), h / (this.height * PT)));
    this.apply();
    this.canvas.scrollLeft = 0;
    this.canvas.scrollTop = 0;
  }

  // Zoom by `factor` keeping the diagram's point under (x, y) (canvas coordinates) in place.
  zoom(factor, x, y) {
    if (!this.svg) return;
    const rect = this.canvas.getBoundingClientRect();
    if (x === undefined) {
      x = rect.width / 2;
      y = rect.height / 2;
    }
    const before = this.svg.getBoundingClientRect();
    const px = (rect.left + x - before.left) / before.width;
    const py = (rect.top + y - before.top) / before.height;
    this.scale = clamp(this.scale * factor);
    this.apply();
    const after = this.svg.getBoundingClientRect();
    this.canvas.scrollLeft += after.left + px * after.width - (rect.left + x);
    this.canvas.scrollTop += after.top + py * after.height - (rect.top + y);
  }

  onWheel(e) {
    if (!(e.ctrlKey || e.metaKey) || !this.svg) return; // plain wheel scrolls
    e.preventDefault();
    const rect = this.canvas.getBoundingClientRect();
    this.zoom(Math.exp(-e.deltaY * 0.0025), e.clientX - rect.left, e.clientY - rect.top);
  }

  onDown(e) {
    if (e.button !== 0 || !this.svg) return;
    const start = { x: e.clientX, y: e.clientY, left: this.canvas.scrollLeft, top: this.canvas.scrollTop };
    let moved = false;
    const move = (ev) => {
      const dx = ev.clientX - start.x;
      const dy = ev.clientY - start.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 3) return;
      moved = true;
      this.canvas.classList.add("panning");
      this.canvas.scrollLeft = start.left - dx;
      this.canvas.scrollTop = start.top - dy;
    };
    const up = () => {
      this.canvas.classList.remove("panning");
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }
}

function clamp(s) {
  return Math.min(MAX, Math.max(MIN, s));
}
