import * as api from '../api.js';
import { h } from '../util.js';

export function mount(main, { go }) {
  const err = h('p', { class: 'error', role: 'alert' });
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'card narrow', id: 'login-form', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    button.disabled = true;
    try {
      const s = await api.login(user.value, pass.value);
      go(s.must_change_password ? '#/password' : '#/');
    } catch (e) {
      err.textContent = e.message;
      pass.select();
    } finally {
      button.disabled = false;
    }
  } },
  h('h1', {}, 'tapbox'),
  h('label', {}, 'User', user),
  h('label', {}, 'Password', pass),
  button, err);
  main.append(form);
  user.focus();
}
