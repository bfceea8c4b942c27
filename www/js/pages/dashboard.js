// Dashboard: live throughput (polled every second with `since`), the link (port pair and
// bypass), top hosts, top L7 protocols and the capture sources (remote taps among them, each a
// source of its own). Every poll is a background
// request. /ports and /bypass go with the 5 s poll only while the box has a port pair or a
// relay: neither comes or goes while tapboxd runs, so one answer without them is enough.
// With a history (-F, as /status says) the throughput chart also shows the last hour, day or
// week from /api/v1/timeseries (bytes per bucket drawn as the bucket's average bit/s, reloaded
// every minute; the choice kept in the address, #/?range=day); the live 1 s poll goes on for the
// current rate meanwhile. Without a history the choice is not shown.
import * as api from '../api.js';
import { LiveChart, settled } from '../chart.js';
import { linkState } from '../box.js';
import { h, bits, bytes, si, table, bars, hostLink, duration, keepInHash, per } from '../util.js';

const LIVE_S = 600; // the live series the box keeps: 600 points of 1 s
const RANGES = [['live', '10 min', LIVE_S], ['hour', '1 h', 3600], ['day', '1 day', 86400], ['week', '1 week', 7 * 86400]];
const HISTORY_RELOAD_MS = 60000; // a point is written once a minute

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

export function mount(main, { params } = {}) {
  const rate = h('span', { class: 'big', id: 'rate-bps' }, '–');
  const pps = h('span', { class: 'big', id: 'rate-pps' }, '–');
  const canvas = h('canvas', { id: 'throughput', class: 'chart', 'aria-label': 'Throughput, bits per second', dataset: { range: 'live' } });
  const chartNote = h('p', { class: 'muted small', id: 'throughput-note' });
  const radios = {};
  const rangeBox = h('div', { class: 'segmented compact', id: 'throughput-range', role: 'radiogroup', 'aria-label': 'Time range', hidden: true },
    RANGES.map(([name, label]) => {
      radios[name] = h('input', { type: 'radio', name: 'throughput-range', value: name, id: `range-${name}`,
        checked: name === 'live', onchange: () => setRange(name) });
      return h('label', { for: `range-${name}`, title: name === 'live' ? 'Live, a point a second' : `The last ${label}, from the history` },
        radios[name], h('span', {}, label));
    }));
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
        h('div', { class: 'chart-head' }, rangeBox, h('div', { class: 'rates' }, rate, pps))),
      canvas, chartNote, statusLine),
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top hosts'), h('a', { href: '#/hosts' }, 'All hosts')), hostsBox),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Top protocols'), h('a', { href: '#/flows' }, 'Flows')), l7Box)),
    h('section', { class: 'card' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Sources'), h('a', { href: '#/taps' }, 'Remote taps')), sourcesBox));

  const chart = new LiveChart(canvas, { format: (v) => si(v, 'b/s'), windowS: LIVE_S, keep: LIVE_S });
  const bg = { background: true };
  let stopped = false, busySeries = false, busyOther = false;
  let box = true; // ask /ports and /bypass (until an answer says there is neither)
  const asked = params && params.get('range');
  let wanted = RANGES.some(([n]) => n === asked) ? asked : 'live'; // shown once /status says there is a history
  let range = 'live';
  let liveLast = 0, liveSeq = 0; // the newest live point; a new seq drops answers for the chart cleared
  let histSeq = 0, histAt = 0;

  function setRange(name) {
    range = name;
    radios[name].checked = true;
    keepInHash('/', { range: name === 'live' ? '' : name });
    histSeq++;
    chart.windowS = RANGES.find(([n]) => n === name)[2];
    chart.end = null;
    chart.set([], []);
    canvas.dataset.range = '';
    chart.empty = name === 'live' ? 'waiting for data…' : 'nothing recorded in this range';
    if (name === 'live') {
      chart.keep = LIVE_S;
      liveLast = 0; // the whole live buffer again
      liveSeq++;
      chartNote.textContent = '';
      canvas.dataset.range = 'live';
      pollSeries();
    } else {
      chart.keep = 2000; // the most /timeseries answers
      chartNote.textContent = 'Loading the history…';
      loadHistory();
    }
  }

  async function loadHistory() {
    const mine = ++histSeq, name = range;
    const to = Math.floor(Date.now() / 1000), from = to - chart.windowS;
    histAt = Date.now();
    try {
      const s = await api.get('/timeseries', { metric: 'bytes', from, to }, bg);
      if (stopped || mine !== histSeq) return;
      const k = 8 / s.resolution_s, pts = settled(s, to);
      chart.end = to;
      chart.set(pts.time, pts.values.map((v) => v * k));
      chartNote.textContent = `Average per ${per(s.resolution_s)}, from the history.`;
      canvas.dataset.range = name;
      canvas.dataset.resolution = String(s.resolution_s);
    } catch (e) {
      if (stopped || mine !== histSeq) return;
      if (api.isHistoryOff(e)) { // no history after all: back to live, quietly
        api.historyOff();
        rangeBox.hidden = true;
        setRange('live');
        return;
      }
      chartNote.textContent = `The history did not answer: ${e.message}`;
    }
  }

  async function pollSeries() {
    if (busySeries || document.hidden) return;
    busySeries = true;
    const mine = liveSeq;
    try {
      const s = await api.get('/series', liveLast ? { since: liveLast } : {}, bg);
      if (stopped || mine !== liveSeq) return;
      const n = s.time.length;
      if (n) liveLast = s.time[n - 1];
      if (range === 'live') chart.push(s.time, s.totals.bits_per_s);
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
      const history = !!(status.history && status.history.enabled);
      rangeBox.hidden = !history;
      if (history && wanted !== 'live') setRange(wanted);
      else if (!history && range !== 'live') setRange('live');
      wanted = 'live';
      if (range !== 'live' && Date.now() - histAt >= HISTORY_RELOAD_MS) loadHistory();
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
