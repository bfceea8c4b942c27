// Ports: the state of the link (through tapbox or bypassed), the two wire ports with their
// counters and rates, the bypass mode (admins change it) and the inline policies. Polls
// /api/v1/ports, /bypass and /policies every 2 s in the background.
import * as api from '../api.js';
import { h, bits, bytes, si, when, table } from '../util.js';

const MODES = [
  ['auto', 'Auto', 'Through tapbox while both ports work; bypass otherwise.'],
  ['on', 'On', 'Bypass always: the relay joins the ports, tapbox forwards nothing.'],
  ['off', 'Off', 'Never bypass: the link goes down with the ports or tapbox.'],
];
const CONFIRM = {
  on: 'Engage the bypass? The relay will join the two ports: traffic stops going through tapbox and no policy applies.',
  off: 'Turn the bypass off? If a port or tapbox fails, the link will go down instead of bypassing tapbox.',
};

/** The banner: {cls, title, detail}. */
function state(p, b) {
  if (!p.mode) return { cls: 'idle', title: 'No port pair: tapbox only watches its capture sources.' };
  if (b.present && b.engaged) return { cls: 'bypass', title: `BYPASS engaged: ${b.reason}`,
    detail: 'The relay joins the two ports: traffic does not go through tapbox.' };
  if (p.mode === 'tap') return { cls: 'ok', title: 'Watching two tap ports (tap): nothing is forwarded.' };
  if (!p.ready) return { cls: 'down', title: `Link down: the ports are not ready (${p.mode})`,
    detail: b.present ? b.reason : null };
  return { cls: 'ok', title: `Link through tapbox (${p.mode})`, detail: b.present ? b.reason : null };
}

function watchdogText(b) {
  if (!b.present) return 'No bypass relay or watchdog on this box (no board file).';
  const w = b.watchdog || {};
  const relay = b.relay_present ? `Relay: ${b.relay}.` : `No relay (${b.relay}).`;
  if (!w.present) return `${relay} No watchdog (${w.device}).`;
  const head = w.stall_latched ? 'Watchdog: STALL latched (no more petting)'
    : w.armed ? 'Watchdog armed' : 'Watchdog not armed';
  return `${relay} ${head}: ${w.device}; ${si(w.pets)} pets, ${si(w.stalls)} stalls, ` +
    `worst lateness ${w.worst_stall_ms} ms of ${w.stall_threshold_ms} ms allowed.`;
}

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
  const bypassBox = h('div', { id: 'bypass' });
  const policiesBox = h('div', { id: 'policies-table' });
  const policyNote = h('p', { class: 'muted small', id: 'policy-undetected' });
  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'Link'), err, banner, bypassBox, watchdog),
    portsBox,
    h('section', { class: 'card' }, h('h2', {}, 'Inline policies'), policiesBox, policyNote));

  // The bypass control: built once (a poll must not undo a choice being made), updated in place.
  const modeNote = h('p', { class: 'muted small', id: 'bypass-info' });
  const bypassErr = h('p', { class: 'error', role: 'alert', id: 'bypass-error' });
  const radios = {};
  let mode = null, busy = false;
  const control = h('fieldset', { class: 'mode', id: 'bypass-mode', 'aria-describedby': 'bypass-info', disabled: !admin },
    h('legend', {}, admin ? 'Bypass mode' : 'Bypass mode (only an admin can change it)'),
    h('div', { class: 'segmented' }, MODES.map(([m, label, hint]) => {
      radios[m] = h('input', { type: 'radio', name: 'bypass-mode', value: m, id: `bypass-mode-${m}`,
        onchange: () => choose(m) });
      return h('label', { for: `bypass-mode-${m}`, title: hint }, radios[m], h('span', {}, label));
    })));

  function showMode(m) {
    mode = m;
    for (const [k, r] of Object.entries(radios)) r.checked = k === m;
  }

  async function choose(m) {
    if (!admin || busy || m === mode) return;
    if (CONFIRM[m] && !confirm(CONFIRM[m])) { showMode(mode); return; }
    const focused = control.contains(document.activeElement);
    busy = true;
    control.disabled = true;
    bypassErr.textContent = '';
    try {
      const b = await api.post('/bypass', { mode: m });
      showMode(b.mode);
      showBypass(b);
      load();
    } catch (e) {
      bypassErr.textContent = `Could not set the mode: ${e.message}`;
      showMode(mode);
    } finally {
      busy = false;
      control.disabled = false;
      if (focused && radios[mode]) radios[mode].focus();
    }
  }

  function showBypass(b) {
    if (!b.present) {
      bypassBox.replaceChildren();
      return;
    }
    if (!bypassBox.contains(control)) bypassBox.replaceChildren(control, modeNote, bypassErr);
    if (!busy) showMode(b.mode);
    const hint = MODES.find(([m]) => m === b.mode);
    const n = b.engage_count;
    modeNote.textContent = `${hint ? hint[2] : b.mode} Bypass engaged ${si(n)} time${n === 1 ? '' : 's'}` +
      (b.last_change_ms ? `; last change ${when(b.last_change_ms / 1000)}.` : '; no change since start.');
  }

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
    const s = state(p, b);
    const sig = `${s.cls}|${s.title}|${s.detail}`;
    if (sig !== shown) {
      shown = sig;
      banner.className = `banner ${s.cls}`;
      banner.dataset.state = s.cls;
      banner.replaceChildren(h('strong', {}, s.title), s.detail ? h('span', {}, s.detail) : null);
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
    ], rows, { empty: 'No policy: every packet is forwarded (add --policy rules).' }));
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
      showBypass(b);
      showPolicies(pol);
    } catch (e) {
      if (!stopped) err.textContent = e.message;
    } finally { polling = false; }
  }

  const t = setInterval(load, 2000);
  return load().then(() => () => { stopped = true; clearInterval(t); });
}
