// Dashboard: live throughput (polled every second with `since`), the link (port pair and
// bypass), top hosts, top L7 protocols and the capture sources (remote taps among them, each a
// source of its own). Every poll is a background
// request. /ports and /bypass go with the 5 s poll only while the box has a port pair or a
// relay: neither comes or goes while tapboxd runs, so one answer without them is enough.
import * as api from '../api.js';
import { LiveChart } from '../chart.js';
import { linkState } from '../box.js';
import { h, bits, bytes, si, table, bars, hostLink, duration } from '../util.js';

/** The compact link card's body: the state banner with the ports up or down. */
function linkBody(p, b) {
  const s = linkState(p, b);
  const ports = p.ports.map((x) => {
    const up = x.up && !x.error;
    return h('span', { class: 'link-port', dataset: { name: x.name, state: up ? 'up' : 'down' }, title: x.error || null },
      h('strong', {}, x.name), h('span', { class: 'tag mono' }, x.interface), ' ',
      h('span', { class: up ? 'state-up' : 'state-down' }, up ? 'up' : 'down'));
  });
  // The detail line of the ports page is left out: the bypass reason is in the title already.
  return h('div', { class: `banner ${s.cls}`, id: 'link-state', dataset: { state: s.cls }, role: 'status' },
    h('strong', {}, s.title),
    ports.length ? h('span', { class: 'small', id: 'link-ports' }, ports.flatMap((x, i) => (i ? [' · ', x] : [x]))) : null);
}

export function mount(main) {
  const rate = h('span', { class: 'big', id: 'rate-bps' }, '–');
  const pps = h('span', { class: 'big', id: 'rate-pps' }, '–');
  const canvas = h('canvas', { id: 'throughput', class: 'chart', 'aria-label': 'Throughput, bits per second' });
  const hostsBox = h('div', { id: 'top-hosts' }, h('p', { class: 'muted' }, 'Loading…'));
  const l7Box = h('div', { id: 'top-l7' }, h('p', { class: 'muted' }, 'Loading…'));
  const sourcesBox = h('div', { id: 'sources' }, h('p', { class: 'muted' }, 'Loading…'));
  const statusLine = h('p', { class: 'muted small', id: 'status-line' });
  const configNote = h('p', { class: 'error', id: 'config-note', hidden: true });
  const linkBox = h('div', { id: 'link-box' }, h('p', { class: 'muted' }, 'Loading…'));

  main.append(
    configNote,
    h('section', { class: 'card', id: 'link-card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Link'), h('a', { href: '#/ports' }, 'Ports')), linkBox),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Throughput'),
        h('div', { class: 'rates' }, rate, pps)),
      canvas, statusLine),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top hosts'), h('a', { href: '#/hosts' }, 'All hosts')), hostsBox),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top protocols'), h('a', { href: '#/flows' }, 'Flows')), l7Box)),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Sources'), h('a', { href: '#/taps' }, 'Remote taps')), sourcesBox));

  const chart = new LiveChart(canvas, { format: (v) => si(v, 'b/s'), windowS: 120 });
  const bg = { background: true };
  let stopped = false, busySeries = false, busyOther = false;
  let box = true; // ask /ports and /bypass (until an answer says there is neither)

  async function pollSeries() {
    if (busySeries || document.hidden) return;
    busySeries = true;
    try {
      const s = await api.get('/series', chart.last ? { since: chart.last } : {}, bg);
      if (stopped) return;
      chart.push(s.time, s.totals.bits_per_s);
      const n = s.time.length;
      if (n) {
        rate.textContent = bits(s.totals.bits_per_s[n - 1]);
        pps.textContent = si(s.totals.packets_per_s[n - 1], 'pkt/s');
      }
    } catch { /* the next tick retries; 401 is handled by the client */ }
    finally { busySeries = false; }
  }

  async function pollOther() {
    if (busyOther || document.hidden) return;
    busyOther = true;
    try {
      const [hosts, l7, status, ports, bypass] = await Promise.all([
        api.get('/hosts', { limit: 8, sort: 'bytes' }, bg),
        api.get('/l7', null, bg),
        api.get('/status', null, bg),
        box ? api.get('/ports', null, bg) : null,
        box ? api.get('/bypass', null, bg) : null,
      ]);
      if (stopped) return;
      if (ports && bypass) {
        linkBox.replaceChildren(linkBody(ports, bypass));
        box = !!ports.mode || bypass.present;
      }
      hostsBox.replaceChildren(table([
        { label: 'Host', cell: (x) => hostLink(x.ip, x.vlan) },
        { label: 'Bytes', class: 'num', cell: (x) => bytes(x.bytes_sent + x.bytes_rcvd) },
        { label: 'Flows', class: 'num', cell: (x) => x.flows_active },
      ], hosts.items, { empty: 'No hosts seen yet.' }));
      const top = l7.items.slice().sort((a, b) => b.bytes - a.bytes).slice(0, 8);
      l7Box.replaceChildren(bars(top.map((p) => ({
        label: h('a', { href: `#/flows?l7=${encodeURIComponent(p.protocol)}` }, p.protocol),
        value: p.bytes, text: `${bytes(p.bytes)} · ${p.flows} fl.`,
      })), { empty: 'No protocols seen yet.' }));
      sourcesBox.replaceChildren(table([
        { label: 'Source', cell: (s) => h('span', { class: 'mono' }, s.name) },
        { label: 'Kind', cell: (s) => s.kind },
        { label: 'State', cell: (s) => h('span', { class: `state state-${s.state}` }, s.state) },
        { label: 'Rate', class: 'num', cell: (s) => bits(s.counters.bits_per_s) },
        { label: 'Packets', class: 'num', cell: (s) => si(s.counters.packets) },
        { label: 'Drops', class: 'num', cell: (s) => si(s.capture_drops + s.interface_drops) },
      ], status.sources, { empty: 'No sources.' }));
      const factory = status.config && status.config.status === 'factory';
      configNote.hidden = !factory;
      configNote.textContent = factory
        ? `Running the factory configuration: ${status.config.detail}` : '';
      statusLine.textContent = `tapbox ${status.version} · up ${duration(status.uptime_s)} · ` +
        `${status.flows.active} flows · ${status.hosts.active} hosts · ` +
        `memory ${bytes(status.memory.process_rss || status.memory.total)}`;
    } catch { /* retried */ }
    finally { busyOther = false; }
  }

  pollSeries();
  pollOther();
  const t1 = setInterval(pollSeries, 1000);
  const t2 = setInterval(pollOther, 5000);
  return () => { stopped = true; clearInterval(t1); clearInterval(t2); chart.destroy(); };
}
