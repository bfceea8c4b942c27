// Settings: what this tapbox runs (version, uptime, which configuration and why, the caps with
// their refusals, memory) and the few things the UI can change: your password, and for admins
// the bypass mode, users and ports. Everything else is tapboxd's options, set in the config
// file: this page shows no switch it cannot honour. Refreshed every 5 s in the background.
import * as api from '../api.js';
import { h, bytes, si, when, duration, table } from '../util.js';
import { bypassSwitch, watchdogText } from '../box.js';

const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(Boolean).map(([k, v, key]) =>
  [h('dt', {}, k), h('dd', { dataset: key ? { k: key } : undefined }, v)]));

function configText(c) {
  if (!c) return ['No note from the supervisor: tapboxd runs on its command line (not the box\'s startup script).', 'none'];
  if (c.status === 'factory') return [`Factory configuration: ${c.detail}`, 'factory'];
  if (c.status === 'ok') return [`Running ${c.detail}`, 'ok'];
  return [c.detail || 'unknown', c.status];
}

export function mount(main, { session }) {
  const admin = session.role === 'admin';
  const err = h('p', { class: 'error', role: 'alert' });
  const about = h('div', { id: 'settings-about' }, h('p', { class: 'muted' }, 'Loading…'));
  const config = h('p', { id: 'settings-config' });
  const caps = h('div', { id: 'settings-caps' });
  const memory = h('div', { id: 'settings-memory' });
  const watchdog = h('p', { class: 'muted small', id: 'watchdog' });
  const bypass = admin ? bypassSwitch({ admin, onChanged: () => load(false) }) : null;
  const noRelay = h('p', { class: 'muted', id: 'settings-no-bypass', hidden: true },
    'No bypass relay on this box (no board file): there is no bypass mode to set.');

  const password = session.loginDisabled
    ? h('p', { class: 'muted', id: 'settings-password' }, 'Login is disabled (--disable-login): there is no password to change.')
    : h('p', { id: 'settings-password' }, h('a', { href: '#/password' }, 'Change my password'), ` (signed in as ${session.user}, role ${session.role}).`);

  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'This tapbox'), err, about, config,
      h('p', { class: 'muted small' },
        'tapboxd is set up by its options (on the box: /data/tapbox.conf, one --option=value a line; ',
        'a broken file falls back to the factory one). The web UI changes passwords, users, API tokens ',
        'and the bypass mode; nothing else.')),
    h('section', { class: 'card' }, h('h2', {}, 'My account'), password),
    admin ? h('section', { class: 'card', id: 'settings-admin' }, h('h2', {}, 'Administration'),
      h('p', {}, h('a', { href: '#/users' }, 'Users and roles'), ' · ', h('a', { href: '#/ports' }, 'Ports, bypass and policies')),
      bypass.el, noRelay, watchdog) : null,
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Caps'), caps),
      h('section', { class: 'card' }, h('h2', {}, 'Memory'), memory)));

  function showStatus(s) {
    about.replaceChildren(kv([
      ['Version', `tapbox ${s.version}`, 'version'],
      ['Up since', `${when(s.started)} (${duration(s.uptime_s)})`, 'uptime'],
      ['Sources', s.sources.map((x) => `${x.name} (${x.kind}, ${x.state})`).join(', ') || 'none', 'sources'],
      ['Loop stalls', si(s.loop_stalls), 'loop_stalls'],
      s.web ? ['Web', `${si(s.web.requests)} requests, ${s.web.connections} open, ${s.web.sessions} sessions`, 'web'] : null,
    ]));
    const [text, cls] = configText(s.config);
    config.textContent = text;
    config.className = cls === 'factory' ? 'error' : 'muted';
    config.dataset.status = cls;
    caps.replaceChildren(table([
      { label: 'Table', cell: (c) => c.name },
      { label: 'In use', class: 'num', cell: (c) => `${si(c.used)} of ${si(c.max)}` },
      { label: 'Refused', class: 'num', cell: (c) => h('span', { class: c.refused ? 'state-down' : null }, si(c.refused)) },
    ], Object.entries(s.caps).map(([name, c]) => ({ name, ...c }))),
    h('p', { class: 'muted small' }, 'Refused: entries not made because the cap was full (for dpi_flows: evicted).'));
    const m = s.memory;
    memory.replaceChildren(kv([
      ['Process (resident)', bytes(m.process_rss), 'rss'],
      ['Engine', `${bytes(m.total)} (peak ${bytes(m.peak)})`, 'engine'],
      ['Flow table', bytes(m.flows)], ['Host table', bytes(m.hosts)], ['nDPI', bytes(m.ndpi)],
    ]));
  }

  let stopped = false, busy = false;
  async function load(background) {
    if (busy || stopped || (background && document.hidden)) return;
    busy = true;
    try {
      const opts = { background };
      const [s, b] = await Promise.all([api.get('/status', null, opts), admin ? api.get('/bypass', null, opts) : null]);
      if (stopped) return;
      err.textContent = '';
      showStatus(s);
      if (b) {
        bypass.update(b);
        noRelay.hidden = b.present;
        watchdog.textContent = b.present ? watchdogText(b) : '';
      }
    } catch (e) {
      if (!stopped) err.textContent = e.message;
    } finally { busy = false; }
  }

  const t = setInterval(() => load(true), 5000);
  return load(false).then(() => () => { stopped = true; clearInterval(t); });
}
