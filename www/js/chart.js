// A small live line chart on a <canvas>: one series of (unix seconds, value) points, a
// sliding time window, a filled area, a "nice" y scale and time labels. Redraws on resize.

const NICE = [1, 2, 2.5, 5, 10];

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const n of NICE) if (n * p >= v) return n * p;
  return 10 * p;
}

export class LiveChart {
  /** canvas: the element; format: value -> label; windowS: seconds shown; keep: points kept. */
  constructor(canvas, { format = String, windowS = 120, color = '#2f80ed', keep = 600 } = {}) {
    this.canvas = canvas;
    this.format = format;
    this.windowS = windowS;
    this.color = color;
    this.keep = keep;
    this.t = [];
    this.v = [];
    this.resizer = new ResizeObserver(() => this.draw());
    this.resizer.observe(canvas);
  }

  /** Append points (times ascending, newer than what we have). */
  push(times, values) {
    for (let i = 0; i < times.length; i++) {
      if (this.t.length && times[i] <= this.t[this.t.length - 1]) continue;
      this.t.push(times[i]);
      this.v.push(values[i]);
    }
    const keep = this.keep;
    if (this.t.length > keep) { this.t.splice(0, this.t.length - keep); this.v.splice(0, this.v.length - keep); }
    this.draw();
  }

  get last() { return this.t.length ? this.t[this.t.length - 1] : 0; }

  destroy() { this.resizer.disconnect(); }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, hgt = c.clientHeight;
    if (!w || !hgt) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const style = getComputedStyle(c);
    const ink = style.color || '#333';
    const grid = style.getPropertyValue('--grid').trim() || 'rgba(128,128,128,.25)';
    g.font = '11px system-ui, sans-serif';

    const end = this.last || Date.now() / 1000;
    const start = end - this.windowS;
    let max = 0;
    for (let i = 0; i < this.t.length; i++) if (this.t[i] >= start && this.v[i] > max) max = this.v[i];
    max = niceMax(max * 1.1);

    const left = Math.max(48, g.measureText(this.format(max)).width + 10), right = 8, top = 8, bottom = 20;
    const pw = w - left - right, ph = hgt - top - bottom;
    const x = (t) => left + ((t - start) / this.windowS) * pw;
    const y = (v) => top + ph - (v / max) * ph;

    // Grid and labels.
    g.strokeStyle = grid;
    g.fillStyle = ink;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(this.format(v), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const labels = Math.max(1, Math.min(4, Math.floor(pw / 90))); // about one per 90 px
    const step = this.windowS / labels;
    for (let k = 0; k <= labels; k++) {
      const t = start + k * step, d = new Date(t * 1000);
      const label = d.toTimeString().slice(0, 8);
      g.fillText(label, Math.min(Math.max(x(t), left + 24), w - right - 24), top + ph + 5);
    }

    // The line and its area.
    const pts = [];
    for (let i = 0; i < this.t.length; i++) if (this.t[i] >= start - 1) pts.push([x(this.t[i]), y(this.v[i])]);
    if (!pts.length) {
      g.textBaseline = 'middle';
      g.fillText('waiting for data…', left + pw / 2, top + ph / 2);
      return;
    }
    g.save();
    g.beginPath(); g.rect(left, top, pw, ph); g.clip();
    g.beginPath();
    pts.forEach(([px, py], i) => (i ? g.lineTo(px, py) : g.moveTo(px, py)));
    g.strokeStyle = this.color;
    g.lineWidth = 2;
    g.lineJoin = 'round';
    g.stroke();
    g.lineTo(pts[pts.length - 1][0], top + ph);
    g.lineTo(pts[0][0], top + ph);
    g.closePath();
    g.globalAlpha = 0.15;
    g.fillStyle = this.color;
    g.fill();
    g.restore();
    c.dataset.points = String(this.t.length);
    c.dataset.last = String(this.last);
  }
}
