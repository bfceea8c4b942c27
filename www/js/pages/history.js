// History (-F): the box's traffic over a range (last hour, day, week, all) and the flows that were
// active in it, with filters and pages, from /api/v1/timeseries and /api/v1/history/flows.
import * as api from '../api.js';
import { h, bytes, table, pager, keepInHash } from '../util.js';
import { LiveChart } from '../chart.js';
import { flowColumns } from './flows.js';

const LIMIT = 25;
const RANGES = [['hour', 3600], ['day', 86400], ['week', 7 * 86400], ['all', 0]];
const FILTERS = ['host', 'l7'];

export async function mount(main, { params }) {
  const state = { range: params.get('range') || 'day', offset: Number(params.get('offset')) || 0 };
  for (const k of FILTERS) state[k] = params.get(k) || '';
  const err = h('p', { class: 'error', role: 'alert' });
  const canvas = h('canvas', { id: 'history-chart', class: 'chart', 'aria-label': 'Traffic over the range, bytes' });
  const chart = new LiveChart(canvas, { format: (v) => bytes(v), keep: 2000 });
  const out = h('div', { id: 'history-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const note = h('p', { class: 'muted', id: 'history-note' });
  const buttons = RANGES.map(([name]) => h('button', {
    type: 'button', class: name === state.range ? '' : 'secondary', id: `r-${name}`,
    onclick: () => { state.range = name; state.offset = 0; load(); },
  }, name === 'all' ? 'All' : `Last ${name}`));
  const inputs = {
    host: h('input', { id: 'h-host', name: 'host', placeholder: 'IP address', value: state.host }),
    l7: h('input', { id: 'h-l7', name: 'l7', placeholder: 'e.g. DNS', value: state.l7 }),
  };
  const form = h('form', { class: 'filters wrap', id: 'history-filter', onsubmit: (ev) => {
    ev.preventDefault();
    for (const k of FILTERS) state[k] = inputs[k].value.trim();
    state.offset = 0;
    load();
  } },
  h('label', {}, 'Host', inputs.host), h('label', {}, 'Application', inputs.l7),
  h('div', { class: 'buttons' }, h('button', { type: 'submit', id: 'h-apply' }, 'Apply')));

  main.append(h('section', { class: 'card' }, h('h2', {}, 'History'),
    h('div', { class: 'buttons' }, buttons), note, canvas, form, err, out));

  let seq = 0;
  async function load() {
    keepInHash('/history', { ...state, offset: state.offset || '' });
    buttons.forEach((b, i) => { b.className = RANGES[i][0] === state.range ? '' : 'secondary'; });
    const mine = ++seq;
    const span = RANGES.find(([n]) => n === state.range)[1];
    const to = Math.floor(Date.now() / 1000), from = span ? to - span : 0;
    try {
      const [series, page] = await Promise.all([
        api.get('/timeseries', { metric: 'bytes', from, to }),
        api.get('/history/flows', { from, to, limit: LIMIT, offset: state.offset, host: state.host, l7: state.l7 }),
      ]);
      if (mine !== seq) return;
      err.textContent = '';
      chart.windowS = Math.max(60, to - (series.time.length ? series.time[0] : from));
      chart.t = []; chart.v = [];
      chart.push(series.time, series.values);
      note.textContent = `Traffic per ${series.resolution_s >= 3600 ? (series.resolution_s === 3600 ? 'hour' : 'day') : 'minute'}; flows active in the range.`;
      out.replaceChildren(
        table(flowColumns(), page.flows, { empty: 'No stored flow in this range.' }),
        pager(page.total, state.offset, LIMIT, (o) => { state.offset = o; load(); }));
      out.dataset.total = String(page.total);
      out.dataset.points = String(series.values.length);
      out.dataset.query = location.hash.split('?')[1] || ''; /* what the table shows (tests wait for it) */
    } catch (e) {
      if (mine !== seq) return;
      err.textContent = e.status === 409 ? 'History is off: start tapboxd with -F (--history).' : e.message;
      out.replaceChildren();
      out.dataset.total = '';
    }
  }
  load();
  return () => { seq++; chart.destroy(); };
}
