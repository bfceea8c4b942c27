// The box around the engine, shared by the dashboard, the ports and the settings pages: the
// link state in words (from /api/v1/ports and /bypass), the watchdog line, the bypass mode
// switch (admins change it with POST /api/v1/bypass; others see it read-only), and the admins'
// policy editor (POST and DELETE /api/v1/policies).
import * as api from './api.js';
import { h, si, when } from './util.js';

export const MODES = [
  ['auto', 'Auto', 'Through tapbox while both ports work; bypass otherwise.'],
  ['on', 'On', 'Bypass always: the relay joins the ports, tapbox forwards nothing.'],
  ['off', 'Off', 'Never bypass: the link goes down with the ports or tapbox.'],
];
const CONFIRM = {
  on: 'Engage the bypass? The relay will join the two ports: traffic stops going through tapbox and no policy applies.',
  off: 'Turn the bypass off? If a port or tapbox fails, the link will go down instead of bypassing tapbox.',
};

/** The state of the link from GET /ports (p) and GET /bypass (b): {cls, title, detail}. */
export function linkState(p, b) {
  if (!p.mode) {
    if (b.present && b.engaged) return { cls: 'bypass', title: `No port pair; BYPASS engaged: ${b.reason}` };
    return { cls: 'idle', title: 'No port pair: tapbox only watches its capture sources.' };
  }
  if (b.present && b.engaged) return { cls: 'bypass', title: `BYPASS engaged: ${b.reason}`,
    detail: 'The relay joins the two ports: traffic does not go through tapbox.' };
  if (p.mode === 'tap') return { cls: 'ok', title: 'Watching two tap ports (tap): nothing is forwarded.' };
  if (!p.ready) return { cls: 'down', title: `Link down: the ports are not ready (${p.mode})`,
    detail: b.present ? b.reason : null };
  return { cls: 'ok', title: `Link through tapbox (${p.mode})`, detail: b.present ? b.reason : null };
}

/** One line on the relay and the watchdog. */
export function watchdogText(b) {
  if (!b.present) return 'No bypass relay or watchdog on this box (no board file).';
  const w = b.watchdog || {};
  const relay = b.relay_present ? `Relay: ${b.relay}.` : `No relay (${b.relay}).`;
  if (!w.present) return `${relay} No watchdog (${w.device}).`;
  const head = w.stall_latched ? 'Watchdog: STALL latched (no more petting)'
    : w.armed ? 'Watchdog armed' : 'Watchdog not armed';
  return `${relay} ${head}: ${w.device}; ${si(w.pets)} pets, ${si(w.stalls)} stalls, ` +
    `worst lateness ${w.worst_stall_ms} ms of ${w.stall_threshold_ms} ms allowed.`;
}

/**
 * The bypass mode control, built once (a poll must not undo a choice being made) and updated
 * in place: returns {el, update(b)}. update takes GET /bypass; without a relay (present false)
 * the control is empty. onChanged(b) runs after the mode was set.
 */
export function bypassSwitch({ admin, onChanged = () => {} }) {
  const el = h('div', { id: 'bypass' });
  const note = h('p', { class: 'muted small', id: 'bypass-info' });
  const err = h('p', { class: 'error', role: 'alert', id: 'bypass-error' });
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
    err.textContent = '';
    try {
      const b = await api.post('/bypass', { mode: m });
      busy = false;
      update(b);
      onChanged(b);
    } catch (e) {
      err.textContent = `Could not set the mode: ${e.message}`;
      showMode(mode);
    } finally {
      busy = false;
      control.disabled = false;
      if (focused && radios[mode]) radios[mode].focus();
    }
  }

  function update(b) {
    if (!b.present) {
      el.replaceChildren();
      return;
    }
    if (!el.contains(control)) el.replaceChildren(control, note, err);
    if (!busy) showMode(b.mode);
    const hint = MODES.find(([m]) => m === b.mode);
    const n = b.engage_count;
    note.textContent = `${hint ? hint[2] : b.mode} Bypass engaged ${si(n)} time${n === 1 ? '' : 's'}` +
      (b.last_change_ms ? `; last change ${when(b.last_change_ms / 1000)}.` : '; no change since start.');
  }

  return { el, update };
}

/**
 * The admins' inline policy editor: an add-rule form (one text input, the syntax in a hint, the
 * API's error under it) and delete buttons for the rules added here. Returns
 * {el, deleteButton(name)}; onChanged(list) gets the rule list the API answers with.
 */
export function policyEditor({ onChanged = () => {} }) {
  const input = h('input', { id: 'policy-rule', name: 'rule', autocomplete: 'off', spellcheck: 'false',
    class: 'mono', style: 'width: min(34em, 78vw)', placeholder: 'block-bt drop proto=BitTorrent', 'aria-describedby': 'policy-hint policy-error' });
  const err = h('p', { class: 'error', role: 'alert', id: 'policy-error' });
  const submit = h('button', { type: 'submit', id: 'policy-add-button' }, 'Add rule');
  const hint = h('p', { class: 'muted small', id: 'policy-hint' },
    h('code', {}, 'NAME drop|pass MATCH...'), ' with MATCH one or more of ',
    h('code', {}, 'proto=BitTorrent,Tor'), ', ', h('code', {}, 'host=10.0.0.0/8'), ', ',
    h('code', {}, 'vlan=10'), ', ', h('code', {}, 'port=23,6881-6889'), ', ', h('code', {}, 'l4=tcp|udp|icmp'),
    ' (values OR, matches AND). Added after the config file\'s rules; the first rule that matches decides.');
  let busy = false;

  async function change(fn) {
    if (busy) return;
    busy = true;
    submit.disabled = true;
    err.textContent = '';
    try {
      const r = await fn();
      onChanged(r);
      return r;
    } catch (e) {
      err.textContent = e.message;
      return null;
    } finally {
      busy = false;
      submit.disabled = false;
    }
  }

  const form = h('form', { class: 'filters wrap', id: 'policy-add', onsubmit: async (ev) => {
    ev.preventDefault();
    const rule = input.value.trim();
    if (!rule) { err.textContent = 'Write a rule, for example: block-bt drop proto=BitTorrent'; return; }
    if (await change(() => api.post('/policies', { rule }))) input.value = '';
  } },
  h('label', { for: 'policy-rule' }, 'Add rule', input),
  h('div', { class: 'buttons' }, submit));

  function deleteButton(name) {
    return h('button', { type: 'button', class: 'danger small', style: 'margin-left: .5em', dataset: { rule: name },
      'aria-label': `Delete rule ${name}`, onclick: () => {
        if (confirm(`Delete the rule ${name}? The flows it matched go to the next rules.`))
          change(() => api.del(`/policies/${encodeURIComponent(name)}`));
      } }, 'Delete');
  }

  return { el: h('div', { id: 'policy-editor' }, form, hint, err), deleteButton };
}
