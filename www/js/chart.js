// A small line chart on a <canvas>: one series of (unix seconds, value) points, a time window
// (sliding with the newest point, or ending at a fixed `end`), a filled area, a "nice" y scale
// and time labels (seconds for a short window, the day for a long one). Redraws on resize.
// Live charts push points as they come; history charts set a whole range at once (`keep` holds
// up to the API's 2000 points).

const NICE = [1, 2, 2.5, 5, 10];

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const n of NICE) if (n * p >= v) return n * p;
  return 10 * p;
}

const pad = (n) => String(n).padStart(2, '0');

/** A time axis label: 12:03:04 in a window of 15 minutes or less, 12:03 up to two days, then 11-23 12:03. */
function timeLabel(t, windowS) {
  const d = new Date(t * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (windowS <= 900) return `${hm}:${pad(d.getSeconds())}`;
  if (windowS <= 2 * 86400) return hm;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/**
 * A history series without its newest buckets while they may still be unwritten: trailing zeros
 * whose bucket ended less than a resolution before `to` (tapboxd writes a minute after it ends,
 * once a minute), so that the line does not fall to 0 at the right edge for nothing.
 */
export function settled(series, to) {
  const res = series.resolution_s || 60;
  let n = series.time.length;
  while (n > 0 && series.values[n - 1] === 0 && series.time[n - 1] + 2 * res > to) n--;
  return { time: series.time.slice(0, n), values: series.values.slice(0, n) };
}

export class LiveChart {
  /**
   * canvas: the element; format: value -> label; windowS: seconds shown; keep: points kept;
   * empty: the text shown without a point in the window.
   */
  constructor(canvas, { format = String, windowS = 120, color = '#2f80ed', keep = 600, empty = 'waiting for data…' } = {}) {
    this.canvas = canvas;
    this.empty = empty;
    this.format = format;
    this.windowS = windowS;
    this.color = color;
    this.keep = keep;
    this.end = null; // the window's end (unix seconds); null: the newest point
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

  /** Replace every point (a history range); times ascending. */
  set(times, values) {
    this.t = [];
    this.v = [];
    this.push(times, values);
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

    const end = this.end || this.last || Date.now() / 1000;
    const start = end - this.windowS;
    let max = 0;
    for (let i = 0; i < this.t.length; i++) if (this.t[i] >= start && this.v[i] > max) max = this.v[i];
    const flat = max === 0; // nothing but zeros: no scale to show
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
      if (k === 0 || !flat) g.fillText(this.format(v), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const labels = Math.max(1, Math.min(4, Math.floor(pw / 90))); // about one per 90 px
    const step = this.windowS / labels;
    for (let k = 0; k <= labels; k++) {
      const t = start + k * step;
      g.fillText(timeLabel(t, this.windowS), Math.min(Math.max(x(t), left + 24), w - right - 24), top + ph + 5);
    }

    // The line and its area.
    const pts = [];
    let shownMax = 0;
    for (let i = 0; i < this.t.length; i++) {
      if (this.t[i] < start - 1) continue;
      pts.push([x(this.t[i]), y(this.v[i])]);
      if (this.v[i] > shownMax) shownMax = this.v[i];
    }
    c.dataset.points = String(pts.length);
    c.dataset.max = String(shownMax);
    if (!pts.length) {
      g.textBaseline = 'middle';
      g.fillText(this.empty, left + pw / 2, top + ph / 2);
      return;
    }
    if (flat) {
      g.textBaseline = 'middle';
      g.fillText('no traffic', left + pw / 2, top + ph / 2);
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
    c.dataset.last = String(this.last);
  }
}
