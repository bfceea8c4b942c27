// Ports: the state of the link (through tapbox or bypassed), the two wire ports with their
// counters and rates, the bypass mode (admins change it) and the inline policies (admins add
// rules and delete the ones added here; the config file's stay). Polls /api/v1/ports, /bypass
// and /policies every 2 s in the background.
import * as api from '../api.js';
import { h, bits, bytes, si, table } from '../util.js';
import { linkState, watchdogText, bypassSwitch, policyEditor } from '../box.js';

const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v, key]) =>
  [h('dt', {}, k), h('dd', { dataset: key ? { k: key } : undefined }, v)]));

function portCard(p, rate) {
  const up = p.up && !p.error;
  const pps = (x) => (x > 0 && x < 10 ? `${x.toFixed(1)} pkt/s` : si(x, 'pkt/s'));
  const r = (pk, by) => (rate ? `${pps(rate[pk])} · ${bits(8 * rate[by])}` : '–');
  const drops = p.queue_drops + p.tx_errors + p.oversize + p.policy_drops + p.kernel_drops;
  return h('section', { class: 'card port-card', dataset: { side: p.side, name: p.name }, 'aria-label': `Port ${p.name}` },
    h('div', { class: 'card-head' },
      h('h2', {}, p.name, h('span', { class: 'tag mono' }, p.interface)),
      h('span', { class: up ? 'state-up' : 'state-down', dataset: { k: 'state' } }, p.up ? 'up' : 'down')),
    p.error ? h('p', { class: 'error', role: 'alert' }, p.error) : null,
    kv([
      ['MTU', String(p.mtu), 'mtu'],
      ['Received', `${si(p.rx_packets)} pkt · ${bytes(p.rx_bytes)}`, 'rx'],
      ['Receive rate', r('rx_packets', 'rx_bytes'), 'rx_rate'],
      ['Sent', `${si(p.tx_packets)} pkt · ${bytes(p.tx_bytes)}`, 'tx'],
      ['Send rate', r('tx_packets', 'tx_bytes'), 'tx_rate'],
      ['Queue', `${p.queue} of ${p.queue_cap}`, 'queue'],
    ]),
    h('h3', {}, `Not forwarded: ${si(drops + p.bypassed)}`),
    kv([
      ['Queue full', si(p.queue_drops), 'queue_drops'],
      ['Send errors', si(p.tx_errors), 'tx_errors'],
      ['Too big', si(p.oversize), 'oversize'],
      ['Policy', `${si(p.policy_drops)} pkt · ${bytes(p.policy_drop_bytes)}`, 'policy_drops'],
      ['Kernel', si(p.kernel_drops), 'kernel_drops'],
      ['Bypassed', si(p.bypassed), 'bypassed'],
      ['Reopens', si(p.reopens), 'reopens'],
    ]));
}

const RATE_KEYS = ['rx_packets', 'rx_bytes', 'tx_packets', 'tx_bytes'];

export function mount(main, { session }) {
  const admin = session.role === 'admin';
  const err = h('p', { class: 'error', role: 'alert' });
  const banner = h('div', { id: 'ports-state', class: 'banner', role: 'status' }, 'Loading…');
  const watchdog = h('p', { class: 'muted small', id: 'watchdog' });
  const portsBox = h('div', { id: 'ports-list', class: 'ports-grid' });
  const policiesBox = h('div', { id: 'policies-table' });
  const policyNote = h('p', { class: 'muted small', id: 'policy-undetected' });
  // The bypass control (box.js): built once, updated in place by the poll.
  const bypass = bypassSwitch({ admin, onChanged: () => load() });
  // Admins: the add-rule form (built once: a poll must not clear what is being typed).
  const editor = admin ? policyEditor({ onChanged: (r) => showPolicies(r) }) : null;

  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'Link'), err, banner, bypass.el, watchdog),
    portsBox,
    h('section', { class: 'card', id: 'policies' }, h('h2', {}, 'Inline policies'), policiesBox, policyNote,
      editor ? editor.el : null));

  let prev = null; // {t, ports} of the last poll: the rates are between two polls
  function rates(p, t) {
    const last = prev && prev.ports.find((x) => x.side === p.side);
    const dt = prev ? (t - prev.t) / 1000 : 0;
    if (!last || dt <= 0) return null;
    const out = {};
    for (const k of RATE_KEYS) {
      if (p[k] < last[k]) return null; // counters restarted
      out[k] = (p[k] - last[k]) / dt;
    }
    return out;
  }

  let shown = '';
  function showState(p, b) {
    const s = linkState(p, b);
    const sig = `${s.cls}|${s.title}|${s.detail}`;
    if (sig !== shown) {
      shown = sig;
      banner.className = `banner ${s.cls}`;
      banner.dataset.state = s.cls;
      banner.replaceChildren(...[h('strong', {}, s.title), s.detail ? h('span', {}, s.detail) : null].filter(Boolean));
    }
    watchdog.textContent = watchdogText(b);
  }

  function showPorts(p, t) {
    if (!p.mode) {
      portsBox.replaceChildren(h('section', { class: 'card' }, h('p', { class: 'notice', id: 'ports-none' },
        'This box runs without a port pair (for example on a capture file or a mirror port). ',
        'To put it in the link, start tapboxd with ', h('code', {}, '-i inline:A,B'),
        ' (or ', h('code', {}, 'bridge:A,B'), ', ', h('code', {}, 'tap:A,B'), ') naming the two wire ports, and ',
        h('code', {}, '--port-names=lan,wan'), ' to label them.')));
      return;
    }
    portsBox.replaceChildren(...p.ports.map((x) => portCard(x, rates(x, t))));
    prev = { t, ports: p.ports };
  }

  function showPolicies(r) {
    const rows = r.rules.map((x) => ({ ...x }));
    if (r.default) {
      const d = r.default;
      rows.push({ ...d, action: d.action || (/\bdrop\b/.test(d.rule || '') ? 'drop' : 'pass'), isDefault: true });
    }
    policiesBox.replaceChildren(table([
      { label: 'Name', cell: (x) => (x.isDefault ? h('em', {}, x.name || 'default') : h('strong', {}, x.name)) },
      { label: 'Action', cell: (x) => h('span', { class: x.action === 'drop' ? 'state-down' : 'state-up' }, x.action) },
      { label: 'Rule', cell: (x) => h('span', { class: 'mono' }, x.rule) },
      { label: 'Flows', class: 'num', cell: (x) => si(x.flows) },
      { label: 'Packets', class: 'num', cell: (x) => si(x.packets) },
      { label: 'Bytes', class: 'num', cell: (x) => bytes(x.bytes) },
      { label: 'Source', cell: (x) => (x.isDefault ? '' : [
        h('span', { class: 'muted', dataset: { source: x.source || 'config' },
          title: x.source === 'ui' ? 'Added in the UI (DATA_DIR/policies.conf)' : 'From the config file: edit it there' },
        x.source === 'ui' ? 'UI' : 'config'),
        editor && x.source === 'ui' ? editor.deleteButton(x.name) : null]) },
    ], rows, { empty: admin ? 'No policy: every packet is forwarded. Add a rule below, or --policy rules in the config file.'
      : 'No policy: every packet is forwarded (add --policy rules).' }));
    policyNote.textContent = `Flows whose application is not detected yet: ${r.undetected}.`;
  }

  let stopped = false, polling = false;
  async function load() {
    if (polling || stopped || document.hidden) return;
    polling = true;
    try {
      const bg = { background: true };
      const [p, b, pol] = await Promise.all([
        api.get('/ports', null, bg), api.get('/bypass', null, bg), api.get('/policies', null, bg)]);
      if (stopped) return;
      err.textContent = '';
      showState(p, b);
      showPorts(p, performance.now());
      bypass.update(b);
      showPolicies(pol);
    } catch (e) {
      if (!stopped) err.textContent = e.message;
    } finally { polling = false; }
  }

  const t = setInterval(load, 2000);
  return load().then(() => () => { stopped = true; clearInterval(t); });
}
