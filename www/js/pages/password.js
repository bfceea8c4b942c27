import * as api from '../api.js';
import { h } from '../util.js';

export function mount(main, { go, session }) {
  const forced = session.mustChange;
  const err = h('p', { class: 'error', role: 'alert' });
  const field = (id, label, ac) => h('input', { id, type: 'password', autocomplete: ac, required: true, minLength: 8 });
  const old = field('pw-old', 'Current password', 'current-password');
  old.minLength = 1;
  const fresh = field('pw-new', 'New password', 'new-password');
  const again = field('pw-again', 'New password again', 'new-password');
  const button = h('button', { type: 'submit', id: 'pw-submit' }, 'Change password');
  main.append(h('form', { class: 'card narrow', id: 'password-form', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    if (fresh.value !== again.value) { err.textContent = 'The two new passwords differ.'; return; }
    button.disabled = true;
    try {
      await api.changePassword(old.value, fresh.value);
      go('#/');
    } catch (e) {
      err.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  } },
  h('h1', {}, forced ? 'Choose your password' : 'Change password'),
  forced ? h('p', { class: 'notice', id: 'pw-forced' },
    'This account still has its factory password. Choose a new one (at least 8 characters) to continue.') : null,
  h('label', {}, 'Current password', old),
  h('label', {}, 'New password', fresh),
  h('label', {}, 'New password again', again),
  button, err));
  old.focus();
}
