// Hosts table: sort by column, text search, local/remote, pages of 25 with the total. Names,
// MAC addresses, vendors and VLANs show when the API has them: empty cells, and a column that no
// host of the page fills is left out.
import * as api from '../api.js';
import { h, bytes, si, when, table, hostLink, pager, keepInHash, debounce } from '../util.js';
import { HIGH_RISK } from '../flow-detail.js';

const LIMIT = 25;

/** Where a host's name was learnt, in words. */
const NAME_SOURCES = {
  dns: 'a DNS answer', tls_sni: 'a TLS server name (SNI)', http_host: 'an HTTP Host header',
  dhcp: 'DHCP', mdns: 'mDNS', netbios: 'NetBIOS',
};
export const nameSource = (src) => (src ? `from ${NAME_SOURCES[src] || src}` : '');

/** A host's name, where it was learnt in its tooltip. */
const hostName = (x) => (x.name ? h('span', { class: 'host-name', title: nameSource(x.name_source) }, x.name) : '');

/** The risks of a host's flows in words: "Binary Application Transfer (2 flows), ...". */
function riskList(x) {
  const list = (x.risks || []).map((r) => `${r.risk} (${r.flows} flow${r.flows === 1 ? '' : 's'})`);
  if (x.risks_other_flows) list.push(`other risks (${x.risks_other_flows} flows)`);
  return list;
}

/** The Risk cell: the score of its risky flows and how many, the risks in its tooltip. */
export function hostRisk(x) {
  if (!x.risky_flows && !x.risk_score) return '';
  return h('span', { class: x.risk_score >= HIGH_RISK ? 'risk high' : 'risk', title: riskList(x).join(', ') },
    `${x.risk_score} · ${x.risky_flows} flow${x.risky_flows === 1 ? '' : 's'}`);
}

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
          { label: 'Host', sort: 'ip', cell: (x) => [hostLink(x.ip, x.vlan), ' ', where(x)] },
          { label: 'Name', class: 'name', optional: true, cell: hostName },
          { label: 'MAC', class: 'hide-s', optional: true, cell: (x) => (x.mac ? h('span', { class: 'mono' }, x.mac) : '') },
          { label: 'Vendor', class: 'hide-s', optional: true, cell: (x) => x.vendor || '' },
          { label: 'VLAN', class: 'num hide-s', optional: true, cell: (x) => x.vlan || '' },
          { label: 'Bytes', sort: 'bytes', class: 'num', cell: (x) => bytes(x.bytes_sent + x.bytes_rcvd) },
          { label: 'Sent / rcvd', class: 'num hide-s', cell: (x) => `${bytes(x.bytes_sent)} / ${bytes(x.bytes_rcvd)}` },
          { label: 'Packets', sort: 'packets', class: 'num hide-s', cell: (x) => si(x.packets_sent + x.packets_rcvd) },
          { label: 'Flows', sort: 'flows', class: 'num', cell: (x) => `${x.flows_active} / ${x.flows_total}` },
          { label: 'Top protocol', cell: (x) => topL7(x) },
          { label: 'Risk', class: 'num', cell: hostRisk },
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

const where = (x) => h('span', { class: x.local ? 'tag local' : 'tag' }, x.local ? 'local' : 'remote');

function topL7(host) {
  const l7 = (host.l7 || []).slice().sort((a, b) => b.bytes - a.bytes)[0];
  return l7 ? l7.protocol : '';
}
