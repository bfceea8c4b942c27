// Dashboard: live throughput (polled every second with `since`), top hosts, top L7
// protocols and the capture sources. Every poll is a background request.
import * as api from '../api.js';
import { LiveChart } from '../chart.js';
import { h, bits, bytes, si, table, bars, hostLink, duration } from '../util.js';

export function mount(main) {
  const rate = h('span', { class: 'big', id: 'rate-bps' }, '–');
  const pps = h('span', { class: 'big', id: 'rate-pps' }, '–');
  const canvas = h('canvas', { id: 'throughput', class: 'chart', 'aria-label': 'Throughput, bits per second' });
  const hostsBox = h('div', { id: 'top-hosts' }, h('p', { class: 'muted' }, 'Loading…'));
  const l7Box = h('div', { id: 'top-l7' }, h('p', { class: 'muted' }, 'Loading…'));
  const sourcesBox = h('div', { id: 'sources' }, h('p', { class: 'muted' }, 'Loading…'));
  const statusLine = h('p', { class: 'muted small', id: 'status-line' });
  const configNote = h('p', { class: 'error', id: 'config-note', hidden: true });

  main.append(
    configNote,
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Throughput'),
        h('div', { class: 'rates' }, rate, pps)),
      canvas, statusLine),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top hosts'), h('a', { href: '#/hosts' }, 'All hosts')), hostsBox),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top protocols'), h('a', { href: '#/flows' }, 'Flows')), l7Box)),
    h('section', { class: 'card' }, h('h2', {}, 'Sources'), sourcesBox));

  const chart = new LiveChart(canvas, { format: (v) => si(v, 'b/s'), windowS: 120 });
  const bg = { background: true };
  let stopped = false, busySeries = false, busyOther = false;

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
      const [hosts, l7, status] = await Promise.all([
        api.get('/hosts', { limit: 8, sort: 'bytes' }, bg),
        api.get('/l7', null, bg),
        api.get('/status', null, bg),
      ]);
      if (stopped) return;
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
