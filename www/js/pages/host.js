// One host: its name and device (MAC, vendor) when known, traffic, L7 breakdown (local and remote
// hosts), the risks of its flows, peers and its largest flows; with a history (-F) also its
// traffic over the last day (/api/v1/timeseries?host=IP, 5-minute points; local hosts only, the
// history keeps no series for remote ones) and its past flows (/api/v1/history/flows?host=IP,
// pages of 25, the page kept in the address as `past=OFFSET`). A host no longer in the host
// table still shows its history. Without a history those cards are not shown.
import * as api from '../api.js';
import { h, bytes, si, when, table, bars, hostLink, pager, keepInHash, per } from '../util.js';
import { LiveChart, settled } from '../chart.js';
import { flowColumns } from './flows.js';
import { flowRow } from '../flow-detail.js';
import { nameSource, hostRisk } from './hosts.js';

const LIMIT = 25;
const DAY = 86400;

/** The history cards of a host (nothing is shown until history is known to be on). */
function historyCards(ip, { vlan, local, params }) {
  const state = { offset: Number(params.get('past')) || 0 };
  const canvas = h('canvas', { id: 'host-history-chart', class: 'chart', 'aria-label': 'The host’s traffic over the last day, bytes' });
  const note = h('p', { class: 'muted small', id: 'host-history-note' });
  const chartCard = h('section', { class: 'card', id: 'host-history', hidden: true },
    h('div', { class: 'card-head' }, h('h2', {}, 'Last day'),
      h('a', { href: `#/history?host=${encodeURIComponent(ip)}&range=day` }, 'History')),
    canvas, note);
  const out = h('div', { id: 'host-past-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const flowsCard = h('section', { class: 'card', id: 'host-past-flows', hidden: true },
    h('div', { class: 'card-head' }, h('h2', {}, 'Past flows'),
      h('a', { href: `#/history?host=${encodeURIComponent(ip)}&range=all` }, 'In the history')),
    out);
  const chart = new LiveChart(canvas, { format: (v) => bytes(v), windowS: DAY, keep: 2000, empty: 'nothing recorded in the last day' });
  const path = `/host/${encodeURIComponent(ip)}`;
  let stopped = false, seq = 0;

  const hideAll = () => { chartCard.hidden = true; flowsCard.hidden = true; };

  async function loadChart() {
    const to = Math.floor(Date.now() / 1000), from = to - DAY;
    try {
      const s = await api.get('/timeseries', { metric: 'bytes', host: ip, from, to });
      if (stopped) return;
      const pts = settled(s, to);
      chartCard.hidden = false; // first: a hidden canvas has no size to draw in
      chart.end = to;
      chart.set(pts.time, pts.values);
      const sum = s.values.reduce((a, v) => a + v, 0);
      note.textContent = `Bytes per ${per(s.resolution_s)}, ${bytes(sum)} in all.`;
      canvas.dataset.resolution = String(s.resolution_s);
      canvas.dataset.total = String(sum);
    } catch (e) {
      if (stopped) return;
      if (api.isHistoryOff(e)) { api.historyOff(); hideAll(); return; }
      chartCard.hidden = true; // no series for this host: nothing to draw
    }
  }

  async function loadFlows() {
    keepInHash(path, { vlan, past: state.offset || '' });
    const mine = ++seq;
    out.dataset.query = '';
    try {
      const page = await api.get('/history/flows', { host: ip, limit: LIMIT, offset: state.offset });
      if (stopped || mine !== seq) return;
      out.replaceChildren(
        table(flowColumns(), page.flows, { empty: 'No stored flow of this host.', row: flowRow }),
        pager(page.total, state.offset, LIMIT, (o) => { state.offset = o; loadFlows(); }));
      out.dataset.total = String(page.total);
      out.dataset.query = `offset=${state.offset}`;
      flowsCard.hidden = false;
    } catch (e) {
      if (stopped || mine !== seq) return;
      if (api.isHistoryOff(e)) { api.historyOff(); hideAll(); return; }
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
      out.dataset.total = '';
      flowsCard.hidden = false;
    }
  }

  api.historyEnabled().then((on) => {
    if (!on || stopped) return;
    if (local !== false) loadChart();
    loadFlows();
  });
  return {
    cards: [chartCard, flowsCard],
    destroy: () => { stopped = true; seq++; chart.destroy(); },
  };
}

const fact = (label, value) => h('div', { class: 'fact' }, h('span', { class: 'muted small' }, label), h('strong', {}, value));

/** The device behind a (local) host: MAC address, vendor, when seen, how often it changed. */
function device(x) {
  if (!x.mac && !x.vendor) return null;
  return h('div', { class: 'facts device', id: 'host-device' },
    x.mac ? fact('MAC', h('span', { class: 'mono' }, x.mac)) : null,
    x.vendor ? fact('Vendor', x.vendor) : null,
    x.mac_first_seen ? fact('MAC first seen', when(x.mac_first_seen)) : null,
    x.mac_last_seen ? fact('MAC last seen', when(x.mac_last_seen)) : null,
    x.mac_changes !== undefined ? fact('MAC changes', String(x.mac_changes)) : null);
}

/** The risks nDPI found in the host's flows, with how many flows had each. */
function risks(x) {
  if (!x.risky_flows && !(x.risks || []).length) return null;
  const rows = (x.risks || []).slice().sort((a, b) => b.flows - a.flows);
  if (x.risks_other_flows) rows.push({ risk: 'other risks', flows: x.risks_other_flows });
  return h('section', { class: 'card', id: 'host-risks' },
    h('div', { class: 'card-head' }, h('h2', {}, 'Risks'), hostRisk(x)),
    table([
      { label: 'Risk', cell: (r) => r.risk },
      { label: 'Flows', class: 'num', cell: (r) => si(r.flows) },
    ], rows, { empty: 'No risk named.' }),
    h('p', { class: 'muted small' }, `Score ${x.risk_score}: the sum of its ${x.risky_flows} risky flows’ nDPI scores.`));
}

export async function mount(main, { args, params }) {
  const ip = args[0];
  const vlan = params.get('vlan') || '';
  let x;
  try {
    x = await api.get(`/hosts/${encodeURIComponent(ip)}`, { vlan, flows: 50, peers: 20 });
  } catch (e) {
    if (e.status !== 404) throw e;
    // Not in the host table (idle hosts are purged): what the history knows of it, if any.
    const past = historyCards(ip, { vlan, local: undefined, params });
    main.append(h('p', {}, h('a', { href: '#/hosts' }, '‹ Hosts')),
      h('section', { class: 'card', id: 'host-summary' }, h('h2', {}, h('span', { class: 'mono', id: 'host-ip' }, ip)),
        h('p', { class: 'muted', id: 'host-gone' }, e.message)),
      past.cards);
    return past.destroy;
  }
  const total = x.bytes_sent + x.bytes_rcvd;
  const l7 = (x.l7 || []).slice().sort((a, b) => b.bytes - a.bytes);
  if (x.l7_other_bytes) l7.push({ protocol: 'other', bytes: x.l7_other_bytes, flows: 0 });
  const past = historyCards(x.ip, { vlan, local: x.local, params });

  main.append(
    h('p', {}, h('a', { href: '#/hosts' }, '‹ Hosts')),
    h('section', { class: 'card', id: 'host-summary' },
      h('h2', {}, h('span', { class: 'mono', id: 'host-ip' }, x.ip), ' ',
        x.name ? h('span', { id: 'host-name', title: nameSource(x.name_source) }, x.name) : null, ' ',
        h('span', { class: x.local ? 'tag local' : 'tag' }, x.local ? 'local' : 'remote'),
        x.vlan ? h('span', { class: 'tag' }, `VLAN ${x.vlan}`) : null),
      x.name && x.name_source ? h('p', { class: 'muted small', id: 'host-name-source' }, `Name ${nameSource(x.name_source)}.`) : null,
      h('div', { class: 'facts' },
        fact('Traffic', bytes(total)),
        fact('Sent', `${bytes(x.bytes_sent)} · ${si(x.packets_sent)} pkt`),
        fact('Received', `${bytes(x.bytes_rcvd)} · ${si(x.packets_rcvd)} pkt`),
        fact('Flows', `${x.flows_active} active / ${x.flows_total} total`),
        fact('First seen', when(x.first_seen)),
        fact('Last seen', when(x.last_seen))),
      device(x)),
    past.cards[0],
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
        x.peers_complete ? null : h('p', { class: 'muted small' }, 'From the host’s largest flows only.')),
      risks(x)),
    h('section', { class: 'card', id: 'host-flows' },
      h('div', { class: 'card-head' }, h('h2', {}, `Flows (${x.flows_count})`),
        h('a', { href: `#/flows?host=${encodeURIComponent(x.ip)}` }, 'All in the flows table')),
      table(flowColumns(), x.flows, { empty: 'No active flows.', row: flowRow })),
    past.cards[1]);
  return past.destroy;
}
