// One host: traffic, L7 breakdown, peers and its largest flows.
import * as api from '../api.js';
import { h, bytes, si, when, table, bars, hostLink } from '../util.js';
import { flowColumns } from './flows.js';

export async function mount(main, { args, params }) {
  const ip = args[0];
  const vlan = params.get('vlan') || '';
  let x;
  try {
    x = await api.get(`/hosts/${encodeURIComponent(ip)}`, { vlan, flows: 50, peers: 20 });
  } catch (e) {
    if (e.status !== 404) throw e;
    main.append(h('section', { class: 'card' }, h('h2', {}, ip), h('p', { class: 'muted' }, e.message),
      h('a', { href: '#/hosts' }, '‹ Hosts')));
    return;
  }
  const total = x.bytes_sent + x.bytes_rcvd;
  const fact = (label, value) => h('div', { class: 'fact' }, h('span', { class: 'muted small' }, label), h('strong', {}, value));
  const l7 = (x.l7 || []).slice().sort((a, b) => b.bytes - a.bytes);
  if (x.l7_other_bytes) l7.push({ protocol: 'other', bytes: x.l7_other_bytes, flows: 0 });

  main.append(
    h('p', {}, h('a', { href: '#/hosts' }, '‹ Hosts')),
    h('section', { class: 'card', id: 'host-summary' },
      h('h2', {}, h('span', { class: 'mono', id: 'host-ip' }, x.ip), ' ',
        h('span', { class: x.local ? 'tag local' : 'tag' }, x.local ? 'local' : 'remote'),
        x.vlan ? h('span', { class: 'tag' }, `VLAN ${x.vlan}`) : null),
      h('div', { class: 'facts' },
        fact('Traffic', bytes(total)),
        fact('Sent', `${bytes(x.bytes_sent)} · ${si(x.packets_sent)} pkt`),
        fact('Received', `${bytes(x.bytes_rcvd)} · ${si(x.packets_rcvd)} pkt`),
        fact('Flows', `${x.flows_active} active / ${x.flows_total} total`),
        fact('First seen', when(x.first_seen)),
        fact('Last seen', when(x.last_seen)))),
    h('div', { class: 'grid' },
      h('section', { class: 'card', id: 'host-l7' }, h('h2', {}, 'Protocols'),
        bars(l7.map((p) => ({
          label: p.protocol === 'other' ? 'other' : h('a', { href: `#/flows?host=${encodeURIComponent(x.ip)}&l7=${encodeURIComponent(p.protocol)}` }, p.protocol),
          value: p.bytes, text: `${bytes(p.bytes)}${total ? ` · ${Math.round((100 * p.bytes) / total)}%` : ''}`,
        })), { empty: 'No protocol detected yet.' })),
      h('section', { class: 'card', id: 'host-peers' }, h('h2', {}, 'Peers'),
        table([
          { label: 'Peer', cell: (p) => hostLink(p.ip, x.vlan) },
          { label: 'Bytes', class: 'num', cell: (p) => bytes(p.bytes) },
          { label: 'Flows', class: 'num', cell: (p) => p.flows },
        ], x.peers, { empty: 'No peers.' }),
        x.peers_complete ? null : h('p', { class: 'muted small' }, 'From the host’s largest flows only.'))),
    h('section', { class: 'card', id: 'host-flows' },
      h('div', { class: 'card-head' }, h('h2', {}, `Flows (${x.flows_count})`),
        h('a', { href: `#/flows?host=${encodeURIComponent(x.ip)}` }, 'All in the flows table')),
      table(flowColumns(), x.flows, { empty: 'No active flows.' })));
}
