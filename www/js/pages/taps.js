// Remote taps (nTap): the box's public key with a ready-to-copy agent command line, and the
// taps it hears from with their counters. Polls /api/v1/ntap every 5 s in the background.
import * as api from '../api.js';
import { h, bytes, si, when, table } from '../util.js';

const SILENT_S = 5; // a tap heard from less recently than this shows as waiting (the collector's rule)

/** The address taps should send to: this page's host name (IPv6 in brackets). */
function boxHost() {
  const name = location.hostname || 'BOX';
  return name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
}

export function agentCommand(r) {
  const key = r.mode === 'pubkey' ? `-K ${r.public_key}` : '-k PASSPHRASE';
  return `tapbox-tap -i eth0 -c ${boxHost()}:${r.port} ${key}`;
}

async function copy(text, input, note) {
  try {
    await navigator.clipboard.writeText(text);
    note.textContent = 'Copied.';
  } catch {
    // Plain HTTP on another host: no clipboard API; select the text for Ctrl+C instead.
    input.focus();
    input.select();
    note.textContent = document.execCommand && document.execCommand('copy') ? 'Copied.' : 'Selected: press Ctrl+C.';
  }
  setTimeout(() => { note.textContent = ''; }, 3000);
}

function copyField(id, label, value) {
  const input = h('input', { id, class: 'mono copy-field', readOnly: true, value, 'aria-label': label, spellcheck: false });
  input.addEventListener('focus', () => input.select());
  const note = h('span', { class: 'muted small', role: 'status' });
  return h('div', { class: 'copy-row' }, input,
    h('button', { type: 'button', class: 'secondary small', onclick: () => copy(value, input, note) }, 'Copy'), note);
}

export function mount(main) {
  const err = h('p', { class: 'error', role: 'alert' });
  const keyBox = h('div', { id: 'ntap-key' }, h('p', { class: 'muted' }, 'Loading…'));
  const tapsBox = h('div', { id: 'taps-table' });
  const summary = h('p', { class: 'muted small', id: 'ntap-summary' });
  main.append(
    h('section', { class: 'card' }, h('h2', {}, 'Remote taps'), err, keyBox),
    h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, 'Taps'), summary), tapsBox));

  let shownKey = null;
  function showKey(r) {
    const sig = `${r.enabled}|${r.mode}|${r.port}|${r.public_key}`;
    if (sig === shownKey) return; // keep a selection or a half-done copy intact
    shownKey = sig;
    if (!r.enabled) {
      keyBox.replaceChildren(h('p', { class: 'notice' },
        'The nTap collector is off. Start tapboxd with ', h('code', {}, '-i ntap:PORT'),
        ' (public-key mode) to receive remote taps.'));
      return;
    }
    const parts = [
      h('p', {}, `The collector listens on UDP port ${r.port} (`,
        r.mode === 'pubkey' ? 'public-key mode' : 'passphrase mode', '). Taps send one way; nothing is sent back.'),
    ];
    if (r.mode === 'pubkey') {
      parts.push(h('label', { for: 'ntap-public-key' }, 'Public key of this box'),
        copyField('ntap-public-key', 'Public key', r.public_key));
    } else {
      parts.push(h('p', { class: 'muted' }, 'Give taps the passphrase tapboxd was started with (it is not shown here).'));
    }
    parts.push(h('label', { for: 'ntap-command' }, 'On the host to tap (as root; choose its interface):'),
      copyField('ntap-command', 'Agent command line', agentCommand(r)));
    keyBox.replaceChildren(...parts);
  }

  let stopped = false, busy = false;
  async function load() {
    if (busy || stopped || document.hidden) return;
    busy = true;
    try {
      const r = await api.get('/ntap', {}, { background: true });
      if (stopped) return;
      err.textContent = '';
      showKey(r);
      const now = Date.now() / 1000;
      summary.textContent = r.enabled
        ? `${r.taps.length} tap${r.taps.length === 1 ? '' : 's'} · ${si(r.datagrams || 0)} datagrams · ${si(r.refused)} refused`
        : '';
      tapsBox.replaceChildren(table([
        { label: 'Tap', cell: (t) => [h('span', { class: 'mono' }, t.tap_id), t.name ? h('span', { class: 'tag' }, t.name) : null] },
        { label: 'State', cell: (t) => {
          const up = now - t.last_seen < SILENT_S;
          return h('span', { class: up ? 'state-up' : 'state-waiting' }, up ? 'up' : 'waiting');
        } },
        { label: 'Address', cell: (t) => h('span', { class: 'mono' }, t.address) },
        { label: 'Datagrams', class: 'num', cell: (t) => si(t.datagrams) },
        { label: 'Packets', class: 'num', cell: (t) => si(t.packets) },
        { label: 'Bytes', class: 'num', cell: (t) => bytes(t.bytes) },
        { label: 'Lost', class: 'num', cell: (t) => si(t.lost) },
        { label: 'Replayed', class: 'num hide-s', cell: (t) => si(t.replayed) },
        { label: 'Forged', class: 'num hide-s', cell: (t) => si(t.forged) },
        { label: 'Last seen', cell: (t) => when(t.last_seen) },
      ], r.taps, { empty: r.enabled ? 'No tap has sent anything yet.' : 'The collector is off.' }));
    } catch (e) {
      if (!stopped) err.textContent = e.message;
    } finally { busy = false; }
  }

  const t = setInterval(load, 5000);
  return load().then(() => () => { stopped = true; clearInterval(t); });
}
