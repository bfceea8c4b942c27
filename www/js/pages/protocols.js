// Protocols: the traffic per application protocol (GET /api/v1/l7, counted since tapboxd
// started), sortable, with each protocol's share of the bytes; a protocol's name opens the
// flows page filtered by it. Refreshed every 5 s in the background; the sort is kept in the
// address (#/protocols?sort=flows&order=asc).
import * as api from '../api.js';
import { h, bytes, si, table, keepInHash } from '../util.js';

const SORTS = ['protocol', 'flows', 'packets', 'bytes'];

export function mount(main, { params }) {
  const state = {
    sort: SORTS.includes(params.get('sort')) ? params.get('sort') : 'bytes',
    order: params.get('order') === 'asc' ? 'asc' : 'desc',
  };
  const err = h('p', { class: 'error', role: 'alert' });
  const out = h('div', { id: 'protocols-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const summary = h('p', { class: 'muted small', id: 'protocols-summary' });
  main.append(h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Protocols'), h('a', { href: '#/flows' }, 'Flows')),
    summary, err, out));

  let items = null;
  function show() {
    if (!items) return;
    const total = items.reduce((a, x) => a + x.bytes, 0);
    const key = state.sort, dir = state.order === 'asc' ? 1 : -1;
    const rows = items.slice().sort((a, b) => {
      const c = key === 'protocol' ? a.protocol.localeCompare(b.protocol) : a[key] - b[key];
      return dir * (c || a.protocol.localeCompare(b.protocol));
    });
    const share = (x) => (total ? (100 * x.bytes) / total : 0);
    out.replaceChildren(table([
      { label: 'Protocol', sort: 'protocol', cell: (x) => h('a', { href: `#/flows?l7=${encodeURIComponent(x.protocol)}`,
        class: 'proto', title: `Flows of ${x.protocol}` }, x.protocol) },
      { label: 'Flows', sort: 'flows', class: 'num', cell: (x) => si(x.flows) },
      { label: 'Packets', sort: 'packets', class: 'num', cell: (x) => si(x.packets) },
      { label: 'Bytes', sort: 'bytes', class: 'num', cell: (x) => bytes(x.bytes) },
      { label: 'Share', class: 'hide-s', cell: (x) => h('div', { class: 'bar-track', style: 'min-width:6rem', title: `${share(x).toFixed(1)} % of the bytes` },
        h('span', { class: 'bar', style: `width:${share(x).toFixed(1)}%` })) },
      { label: '%', class: 'num', cell: (x) => `${share(x).toFixed(share(x) < 10 ? 1 : 0)} %` },
    ], rows, {
      empty: 'No protocol seen yet.', sort: state.sort, order: state.order,
      onSort: (s) => {
        state.order = state.sort === s && state.order === 'desc' ? 'asc' : 'desc';
        state.sort = s;
        keepInHash('/protocols', state);
        show();
      },
    }));
    out.dataset.query = `sort=${state.sort}&order=${state.order}`;
    summary.textContent = `${items.length} protocol${items.length === 1 ? '' : 's'}, ${bytes(total)} since tapboxd started. ` +
      'A protocol opens its flows (those still in the flow table).';
  }

  let stopped = false, busy = false;
  async function load(background) {
    if (busy || stopped || (background && document.hidden)) return;
    busy = true;
    try {
      const r = await api.get('/l7', null, { background });
      if (stopped) return;
      err.textContent = '';
      items = r.items;
      show();
    } catch (e) {
      if (!stopped) err.textContent = e.message;
    } finally { busy = false; }
  }

  const t = setInterval(() => load(true), 5000);
  return load(false).then(() => () => { stopped = true; clearInterval(t); });
}
