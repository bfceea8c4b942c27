// History (-F): the box's traffic over a range (last hour, day, week, all, or a custom from-to),
// the top hosts, application protocols and server ports of that range, and the flows that were
// active in it, with filters and pages: /api/v1/timeseries, /api/v1/history/top and
// /api/v1/history/flows. Range, filters and page are kept in the address
// (#/history?range=custom&from=1764000000&to=1764003600&l7=DNS&offset=25). A top host opens its
// host page; a protocol or a port filters the flows below. Without a history the page says so
// and asks nothing else.
import * as api from '../api.js';
import { h, bytes, si, table, pager, keepInHash, hostLink, href, localInput, parseLocalInput, per } from '../util.js';
import { LiveChart } from '../chart.js';
import { flowColumns } from './flows.js';
import { flowRow } from '../flow-detail.js';

const LIMIT = 25;
const TOP = 10;
const RANGES = [['hour', 3600], ['day', 86400], ['week', 7 * 86400], ['all', 0], ['custom', null]];
const LABELS = { hour: 'Last hour', day: 'Last day', week: 'Last week', all: 'All', custom: 'Custom' };
const FILTERS = ['host', 'l7', 'port', 'proto'];
const PROTOS = ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'];
const TOPS = [
  ['hosts', 'Top hosts', 'Host'],
  ['l7', 'Top protocols', 'Protocol'],
  ['ports', 'Top server ports', 'Port'],
];

const now = () => Math.floor(Date.now() / 1000);

export async function mount(main, { params }) {
  const state = {
    range: RANGES.some(([n]) => n === params.get('range')) ? params.get('range') : 'day',
    from: Number(params.get('from')) || 0,
    to: Number(params.get('to')) || 0,
    offset: Number(params.get('offset')) || 0,
  };
  for (const k of FILTERS) state[k] = params.get(k) || '';
  if (state.range === 'custom' && !(state.from < state.to)) { state.to = now(); state.from = state.to - 86400; }

  if (!(await api.historyEnabled())) {
    main.append(h('section', { class: 'card' }, h('h2', {}, 'History'),
      h('p', { class: 'muted', id: 'history-off' }, 'History is off: start tapboxd with -F (--history) to keep the flows and the traffic over time.')));
    return null;
  }

  const err = h('p', { class: 'error', role: 'alert', id: 'history-error' });
  const canvas = h('canvas', { id: 'history-chart', class: 'chart', 'aria-label': 'Traffic over the range, bytes' });
  const chart = new LiveChart(canvas, { format: (v) => bytes(v), keep: 2000, empty: 'nothing recorded in this range' });
  const out = h('div', { id: 'history-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const note = h('p', { class: 'muted small', id: 'history-note' });
  const buttons = RANGES.map(([name]) => h('button', {
    type: 'button', class: name === state.range ? '' : 'secondary', id: `r-${name}`, 'aria-pressed': String(name === state.range),
    onclick: () => pick(name),
  }, LABELS[name]));

  // The custom range: two local date-times, shown with the Custom button.
  const fromIn = h('input', { type: 'datetime-local', id: 'h-from', name: 'from', step: 60, required: true });
  const toIn = h('input', { type: 'datetime-local', id: 'h-to', name: 'to', step: 60, required: true });
  const customErr = h('p', { class: 'error', role: 'alert', id: 'h-custom-error' });
  const custom = h('form', { class: 'filters wrap', id: 'h-custom', hidden: state.range !== 'custom', onsubmit: (ev) => {
    ev.preventDefault();
    const from = parseLocalInput(fromIn.value), to = parseLocalInput(toIn.value);
    if (!Number.isFinite(from) || !Number.isFinite(to)) { customErr.textContent = 'Give a start and an end.'; return; }
    if (from >= to) { customErr.textContent = 'The end must be after the start.'; return; }
    customErr.textContent = '';
    Object.assign(state, { range: 'custom', from, to, offset: 0 });
    loadAll();
  } },
  h('label', {}, 'From', fromIn), h('label', {}, 'To', toIn),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'h-custom-apply' }, 'Show')));

  const inputs = {
    host: h('input', { id: 'h-host', name: 'host', placeholder: 'IP address', value: state.host }),
    l7: h('input', { id: 'h-l7', name: 'l7', placeholder: 'e.g. DNS', value: state.l7 }),
    port: h('input', { id: 'h-port', name: 'port', type: 'number', min: 0, max: 65535, placeholder: 'any', value: state.port }),
    proto: h('select', { id: 'h-proto', name: 'proto' }, h('option', { value: '' }, 'any'),
      PROTOS.map((p) => h('option', { value: p }, p.toUpperCase()))),
  };
  inputs.proto.value = state.proto.toLowerCase();
  const form = h('form', { class: 'filters wrap', id: 'history-filter', onsubmit: (ev) => {
    ev.preventDefault();
    setFilters(Object.fromEntries(FILTERS.map((k) => [k, inputs[k].value.trim()])));
  } },
  h('label', {}, 'Host', inputs.host), h('label', {}, 'Application', inputs.l7),
  h('label', {}, 'Port', inputs.port), h('label', {}, 'Protocol', inputs.proto),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit', id: 'h-apply' }, 'Apply'),
    h('button', { type: 'button', class: 'secondary', id: 'h-clear', onclick: () => setFilters({}) }, 'Clear')));

  const tops = {};
  for (const [kind] of TOPS) tops[kind] = h('div', { id: `h-top-${kind}` }, h('p', { class: 'muted' }, 'Loading…'));
  const flowsCard = h('section', { class: 'card', id: 'history-flows' },
    h('h2', {}, 'Flows in the range'), form, out);

  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'History'),
      h('div', { class: 'buttons ranges', id: 'history-ranges' }, buttons), custom, customErr, note, canvas, err),
    h('div', { class: 'grid three' }, TOPS.map(([kind, title]) =>
      h('section', { class: 'card' }, h('h2', {}, title), tops[kind]))),
    flowsCard);

  function bounds() {
    if (state.range === 'custom') return [state.from, state.to];
    const span = RANGES.find(([n]) => n === state.range)[1];
    const to = now();
    return [span ? to - span : 0, to];
  }

  function pick(name) {
    if (name === 'custom') {
      // Start from what is shown; the user changes the times and presses Show.
      const [from, to] = bounds();
      Object.assign(state, { range: 'custom', from: from || to - 86400, to });
    } else {
      state.range = name;
    }
    state.offset = 0;
    loadAll();
  }

  function setFilters(f) {
    for (const k of FILTERS) { state[k] = f[k] || ''; inputs[k].value = state[k]; }
    state.offset = 0;
    loadFlows();
  }

  // The address of this page with the given filters (a link that also works in a new tab).
  const filterLink = (f) => href('/history', { ...hashState(), host: '', l7: '', port: '', proto: '', offset: '', ...f });
  const hashState = () => ({
    ...state, offset: state.offset || '',
    from: state.range === 'custom' ? state.from : '', to: state.range === 'custom' ? state.to : '',
  });
  function filterAnchor(text, f, cls) {
    return h('a', { href: filterLink(f), class: cls, title: `Flows of ${text} in the range`, onclick: (ev) => {
      ev.preventDefault();
      setFilters(f);
      flowsCard.scrollIntoView({ block: 'start' });
    } }, text);
  }

  function topCell(kind, name) {
    if (kind === 'hosts') return hostLink(name);
    if (kind === 'l7') return filterAnchor(name, { l7: name }, 'proto');
    const m = /^([a-z0-9]+)\/(\d+)$/i.exec(name); // "tcp/443"
    return m ? filterAnchor(name, { proto: m[1].toLowerCase(), port: m[2] }, 'mono') : h('span', { class: 'mono' }, name);
  }

  function off(e) {
    if (!api.isHistoryOff(e)) return false;
    api.historyOff();
    main.replaceChildren(h('section', { class: 'card' }, h('h2', {}, 'History'),
      h('p', { class: 'muted', id: 'history-off' }, 'History is off: start tapboxd with -F (--history).')));
    return true;
  }

  let rangeSeq = 0, flowSeq = 0;
  async function loadRange() {
    keepInHash('/history', hashState());
    buttons.forEach((b, i) => {
      const on = RANGES[i][0] === state.range;
      b.className = on ? '' : 'secondary';
      b.setAttribute('aria-pressed', String(on));
    });
    custom.hidden = state.range !== 'custom';
    const mine = ++rangeSeq;
    const [from, to] = bounds();
    if (state.range === 'custom') { fromIn.value = localInput(from); toIn.value = localInput(to); }
    canvas.dataset.range = ''; // tests wait for the range asked
    const [series, ...top] = await Promise.allSettled([
      api.get('/timeseries', { metric: 'bytes', from, to }),
      ...TOPS.map(([kind]) => api.get('/history/top', { kind, from, to, limit: TOP })),
    ]);
    if (mine !== rangeSeq) return;
    const failed = [series, ...top].find((r) => r.status === 'rejected');
    if (failed && off(failed.reason)) return;
    err.textContent = failed ? failed.reason.message : '';
    if (series.status === 'fulfilled') {
      const s = series.value;
      chart.end = to;
      chart.windowS = Math.max(60, to - Math.max(from, s.time.length ? s.time[0] : from));
      chart.set(s.time, s.values);
      note.textContent = `Bytes per ${per(s.resolution_s)}; below, the flows that were active in the range.`;
      canvas.dataset.range = `${from}-${to}`;
      canvas.dataset.resolution = String(s.resolution_s);
    }
    top.forEach((r, i) => {
      const [kind, , label] = TOPS[i];
      const box = tops[kind];
      if (r.status !== 'fulfilled') { box.replaceChildren(); box.dataset.count = ''; return; }
      box.replaceChildren(table([
        { label, cell: (x) => topCell(kind, x.name) },
        { label: 'Bytes', class: 'num', cell: (x) => bytes(x.bytes) },
        { label: 'Packets', class: 'num hide-s', cell: (x) => si(x.packets) },
        { label: 'Flows', class: 'num', cell: (x) => si(x.flows) },
      ], r.value.top, { empty: 'Nothing in this range.' }));
      box.dataset.count = String(r.value.top.length);
      box.dataset.range = `${from}-${to}`;
    });
  }

  async function loadFlows() {
    keepInHash('/history', hashState());
    const mine = ++flowSeq;
    const [from, to] = bounds();
    out.dataset.query = '';
    try {
      const page = await api.get('/history/flows', {
        from, to, limit: LIMIT, offset: state.offset, host: state.host, l7: state.l7, port: state.port, proto: state.proto,
      });
      if (mine !== flowSeq) return;
      out.replaceChildren(
        table(flowColumns(), page.flows, { empty: 'No stored flow in this range.', row: flowRow }),
        pager(page.total, state.offset, LIMIT, (o) => { state.offset = o; loadFlows(); }));
      out.dataset.total = String(page.total);
      out.dataset.query = location.hash.split('?')[1] || ''; /* what the table shows (tests wait for it) */
    } catch (e) {
      if (mine !== flowSeq || off(e)) return;
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
      out.dataset.total = '';
      out.dataset.query = location.hash.split('?')[1] || '';
    }
  }

  function loadAll() { loadRange(); loadFlows(); }
  loadAll();
  return () => { rangeSeq++; flowSeq++; chart.destroy(); };
}
