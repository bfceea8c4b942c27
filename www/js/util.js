// Small DOM and formatting helpers shared by the pages. Text always goes in as text nodes
// (never innerHTML), so nothing from the API can inject markup: a host name such as
// "<img src=x onerror=...>" shows as those characters.

// Properties that would parse a string as markup or code: h() refuses them.
const MARKUP_KEYS = new Set(['innerHTML', 'outerHTML', 'srcdoc']);

/** h('a', {href: '#/hosts', class: 'x'}, 'text', childNode, [more]) -> Element */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (MARKUP_KEYS.has(k)) throw new Error(`h(): no ${k}, children are text`);
    if (k.startsWith('on') && typeof v !== 'function') throw new Error(`h(): ${k} takes a function`); // no inline handler
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const UNITS = ['', 'k', 'M', 'G', 'T'];

/** 1234567 -> "1.2 M" (base 1000, for rates and counts). */
export function si(n, unit = '') {
  let i = 0;
  n = Number(n) || 0;
  while (Math.abs(n) >= 1000 && i < UNITS.length - 1) { n /= 1000; i++; }
  const digits = i === 0 || Math.abs(n) >= 100 ? 0 : 1;
  return `${n.toFixed(digits)} ${UNITS[i]}${unit}`.trim();
}

/** Bytes, base 1024: "1.5 MiB". */
export function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 || n >= 100 ? 0 : 1)} ${u[i]}`;
}

export const bits = (bps) => si(bps, 'bit/s');

/** Seconds since the epoch -> "12:03:04" today, "2026-11-20 12:03" otherwise. */
export function when(unixS) {
  if (!unixS) return '';
  const d = new Date(unixS * 1000);
  const now = new Date();
  const pad = (x) => String(x).padStart(2, '0');
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms.slice(0, 5)}`;
}

/** Unix seconds -> "2026-11-23 11:50" (a full date, whatever the day). */
export function dateTime(unixS) {
  if (!unixS) return '';
  return localInput(unixS).replace('T', ' ');
}

/** Unix seconds -> "2026-11-23T11:50", the local time a datetime-local input holds. */
export function localInput(unixS) {
  const d = new Date(unixS * 1000);
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local input's value -> Unix seconds (NaN when empty or invalid). */
export function parseLocalInput(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value || '')) return NaN;
  return Math.floor(new Date(value).getTime() / 1000); // no zone in the string: local time
}

/** A series' resolution in words: "minute", "5 minutes", "hour", "day". */
export function per(resolutionS) {
  const names = { 60: 'minute', 3600: 'hour', 86400: 'day' };
  if (names[resolutionS]) return names[resolutionS];
  if (resolutionS % 86400 === 0) return `${resolutionS / 86400} days`;
  if (resolutionS % 3600 === 0) return `${resolutionS / 3600} hours`;
  if (resolutionS % 60 === 0) return `${resolutionS / 60} minutes`;
  return `${resolutionS} s`;
}

export function duration(s) {
  s = Math.max(0, Math.round(s));
  const d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** The link to a host's page. */
export function hostLink(ip, vlan = 0) {
  const q = vlan ? `?vlan=${vlan}` : '';
  return h('a', { href: `#/host/${encodeURIComponent(ip)}${q}`, class: 'mono' }, ip);
}

/** A table: columns [{label, cell(row) -> node|string, class, sort, optional}], rows [];
 * an optional column is left out when no row has anything in it; `row(r)` gives each <tr>'s
 * attributes (e.g. a click handler). */
export function table(columns, rows, { empty = 'Nothing yet.', sort, order, onSort, row = () => ({}) } = {}) {
  columns = columns.filter((c) => !c.optional || rows.some((r) => c.cell(r) !== ''));
  const head = columns.map((c) => {
    if (!c.sort || !onSort) return h('th', { class: c.class }, c.label);
    const active = sort === c.sort;
    const arrow = active ? (order === 'asc' ? ' ▲' : ' ▼') : '';
    return h('th', { class: c.class, 'aria-sort': active ? (order === 'asc' ? 'ascending' : 'descending') : null },
      h('button', { type: 'button', class: 'sort', onclick: () => onSort(c.sort) }, c.label + arrow));
  });
  const body = rows.length
    ? rows.map((r) => h('tr', row(r), columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(r)))))
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, empty))];
  return h('div', { class: 'table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, head)), h('tbody', {}, body)));
}

/** Horizontal share bars: items [{label, value, text}]. */
export function bars(items, { empty = 'Nothing yet.' } = {}) {
  if (!items.length) return h('p', { class: 'muted' }, empty);
  const max = Math.max(...items.map((i) => i.value), 1);
  return h('ul', { class: 'bars' }, items.map((i) => h('li', {},
    h('span', { class: 'bar-label' }, i.label),
    h('span', { class: 'bar-track' }, h('span', { class: 'bar', style: `width:${(100 * i.value / max).toFixed(1)}%` })),
    h('span', { class: 'bar-value' }, i.text))));
}

/** Parse "#/path?x=1" -> {path: '/path', params: URLSearchParams}. */
export function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

/** Build "#/path?k=v" dropping empty values. */
export function href(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? '?' + s : ''}`;
}

export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

/** "1–25 of 130" with previous/next buttons; onPage(newOffset). */
export function pager(total, offset, limit, onPage) {
  const last = Math.min(offset + limit, total);
  return h('nav', { class: 'pager', 'aria-label': 'pages' },
    h('button', { type: 'button', class: 'prev', disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) }, '‹ Previous'),
    h('span', { class: 'pager-info' }, total ? `${offset + 1}–${last} of ${total}` : '0 of 0'),
    h('button', { type: 'button', class: 'next', disabled: last >= total, onclick: () => onPage(offset + limit) }, 'Next ›'));
}

/** Keep a page's state in the address (#/path?..) without re-rendering the page. */
export function keepInHash(path, state) {
  history.replaceState(null, '', href(path, state));
}
