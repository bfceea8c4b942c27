// Hosts table: sort by column, text search, local/remote, pages of 25 with the total.
import * as api from '../api.js';
import { h, bytes, si, when, table, hostLink, pager, keepInHash, debounce } from '../util.js';

const LIMIT = 25;

export function mount(main, { params }) {
  const state = {
    sort: params.get('sort') || 'bytes',
    order: params.get('order') || 'desc',
    q: params.get('q') || '',
    local: params.get('local') || '',
    offset: Number(params.get('offset')) || 0,
  };
  const search = h('input', { type: 'search', id: 'hosts-q', placeholder: 'Search IP…', value: state.q, 'aria-label': 'Search hosts' });
  const local = h('select', { id: 'hosts-local', 'aria-label': 'Local or remote' },
    h('option', { value: '' }, 'All hosts'),
    h('option', { value: 'true' }, 'Local'),
    h('option', { value: 'false' }, 'Remote'));
  local.value = state.local;
  const out = h('div', { id: 'hosts-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const err = h('p', { class: 'error', role: 'alert' });

  main.append(h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Hosts'), h('div', { class: 'filters' }, search, local)),
    err, out));

  let seq = 0;
  async function load() {
    keepInHash('/hosts', { ...state, offset: state.offset || '' });
    const mine = ++seq;
    try {
      const r = await api.get('/hosts', { ...state, limit: LIMIT });
      if (mine !== seq) return;
      err.textContent = '';
      out.dataset.query = location.hash.split('?')[1] || '';
      out.replaceChildren(
        table([
          { label: 'Host', sort: 'ip', cell: (x) => hostLink(x.ip, x.vlan) },
          { label: 'Where', cell: (x) => h('span', { class: x.local ? 'tag local' : 'tag' }, x.local ? 'local' : 'remote') },
          { label: 'VLAN', class: 'num hide-s', cell: (x) => x.vlan || '' },
          { label: 'Bytes', sort: 'bytes', class: 'num', cell: (x) => bytes(x.bytes_sent + x.bytes_rcvd) },
          { label: 'Sent / rcvd', class: 'num hide-s', cell: (x) => `${bytes(x.bytes_sent)} / ${bytes(x.bytes_rcvd)}` },
          { label: 'Packets', sort: 'packets', class: 'num hide-s', cell: (x) => si(x.packets_sent + x.packets_rcvd) },
          { label: 'Flows', sort: 'flows', class: 'num', cell: (x) => `${x.flows_active} / ${x.flows_total}` },
          { label: 'Top protocol', cell: (x) => topL7(x) },
          { label: 'First seen', sort: 'first_seen', class: 'hide-s', cell: (x) => when(x.first_seen) },
          { label: 'Last seen', sort: 'last_seen', cell: (x) => when(x.last_seen) },
        ], r.items, {
          empty: state.q ? 'No host matches.' : 'No hosts seen yet.',
          sort: state.sort, order: state.order,
          onSort: (s) => {
            state.order = state.sort === s && state.order === 'desc' ? 'asc' : 'desc';
            state.sort = s;
            state.offset = 0;
            load();
          },
        }),
        pager(r.total, state.offset, LIMIT, (o) => { state.offset = o; load(); }));
    } catch (e) {
      if (mine === seq) err.textContent = e.message;
    }
  }

  search.addEventListener('input', debounce(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250));
  local.addEventListener('change', () => { state.local = local.value; state.offset = 0; load(); });
  load();
  return () => { seq++; };
}

function topL7(host) {
  const l7 = (host.l7 || []).slice().sort((a, b) => b.bytes - a.bytes)[0];
  return l7 ? l7.protocol : '';
}
