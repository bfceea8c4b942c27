// Flows table with filters (host, L7 protocol, port, L4 protocol), sorting and pages; a flow
// (its name, or anywhere on its row) opens its detail (flow-detail.js).
import * as api from '../api.js';
import { h, bytes, si, when, table, pager, keepInHash } from '../util.js';
import { endpoint, flowName, riskCell, flowRow, showFlow } from '../flow-detail.js';

const LIMIT = 25;
const FILTERS = ['host', 'l7', 'port', 'proto'];

/** The Name cell: a button that opens the flow's detail. */
const nameCell = (f) => h('button', { type: 'button', class: f.host_name ? 'link flow-open' : 'link flow-open mono',
  title: `${flowName(f)}: details`, onclick: () => showFlow(f) }, flowName(f));

/** The columns of a flows table (this page, the host page, the history); rows: flowRow. */
export function flowColumns() {
  return [
    { label: 'Client', cell: (f) => endpoint(f.client) },
    { label: 'Server', cell: (f) => endpoint(f.server) },
    { label: 'Name', class: 'name', cell: nameCell },
    { label: 'Proto', cell: (f) => f.protocol },
    { label: 'Application', cell: (f) => h('span', { title: f.category || '' }, f.l7 + (f.l7_guessed ? ' ?' : '')) },
    { label: 'Risk', class: 'num', optional: true, cell: riskCell }, // shown when a flow of the page has one
    { label: 'Bytes', sort: 'bytes', class: 'num', cell: (f) => bytes(f.client_to_server.bytes + f.server_to_client.bytes) },
    { label: 'Packets', sort: 'packets', class: 'num hide-s', cell: (f) => si(f.client_to_server.packets + f.server_to_client.packets) },
    { label: 'First seen', sort: 'first_seen', class: 'hide-s', cell: (f) => when(f.first_seen) },
    { label: 'Last seen', sort: 'last_seen', cell: (f) => when(f.last_seen) },
  ];
}

export async function mount(main, { params }) {
  const state = { sort: params.get('sort') || 'bytes', order: params.get('order') || 'desc', offset: Number(params.get('offset')) || 0 };
  for (const k of FILTERS) state[k] = params.get(k) || '';

  const l7s = await api.get('/l7').catch(() => ({ items: [] }));
  const names = l7s.items.map((p) => p.protocol).sort();
  if (state.l7 && !names.includes(state.l7)) names.unshift(state.l7);

  const inputs = {
    host: h('input', { id: 'f-host', name: 'host', placeholder: 'IP address', value: state.host, inputMode: 'text' }),
    l7: h('select', { id: 'f-l7', name: 'l7' }, h('option', { value: '' }, 'any'), names.map((n) => h('option', { value: n }, n))),
    port: h('input', { id: 'f-port', name: 'port', type: 'number', min: 0, max: 65535, placeholder: 'any', value: state.port }),
    proto: h('select', { id: 'f-proto', name: 'proto' }, h('option', { value: '' }, 'any'),
      ['tcp', 'udp', 'icmp', 'icmpv6', 'sctp'].map((p) => h('option', { value: p }, p.toUpperCase()))),
  };
  inputs.l7.value = state.l7;
  inputs.proto.value = state.proto.toLowerCase();
  const err = h('p', { class: 'error', role: 'alert' });
  const out = h('div', { id: 'flows-table' }, h('p', { class: 'muted' }, 'Loading…'));

  const form = h('form', { class: 'filters wrap', id: 'flows-filter', onsubmit: (ev) => {
    ev.preventDefault();
    for (const k of FILTERS) state[k] = inputs[k].value.trim();
    state.offset = 0;
    load();
  } },
  h('label', {}, 'Host', inputs.host),
  h('label', {}, 'Application', inputs.l7),
  h('label', {}, 'Port', inputs.port),
  h('label', {}, 'Protocol', inputs.proto),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit', id: 'f-apply' }, 'Apply'),
    h('button', { type: 'button', class: 'secondary', onclick: () => {
      for (const k of FILTERS) { inputs[k].value = ''; state[k] = ''; }
      state.offset = 0;
      load();
    } }, 'Clear')));

  main.append(h('section', { class: 'card' }, h('h2', {}, 'Flows'), form, err, out));

  let seq = 0;
  async function load() {
    keepInHash('/flows', { ...state, offset: state.offset || '' });
    const mine = ++seq;
    try {
      const r = await api.get('/flows', { ...state, limit: LIMIT });
      if (mine !== seq) return;
      err.textContent = '';
      out.dataset.query = location.hash.split('?')[1] || '';
      out.replaceChildren(
        table(flowColumns(), r.items, {
          empty: 'No flow matches.', sort: state.sort, order: state.order, row: flowRow,
          onSort: (s) => {
            state.order = state.sort === s && state.order === 'desc' ? 'asc' : 'desc';
            state.sort = s;
            state.offset = 0;
            load();
          },
        }),
        pager(r.total, state.offset, LIMIT, (o) => { state.offset = o; load(); }));
      out.dataset.total = String(r.total);
    } catch (e) {
      if (mine !== seq) return;
      err.textContent = e.message;
      out.replaceChildren();
      out.dataset.total = '';
    }
  }
  load();
  return () => { seq++; };
}
