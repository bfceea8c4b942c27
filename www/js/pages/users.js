// Users (admins): list, create, delete, set a password.
import * as api from '../api.js';
import { h, when, table } from '../util.js';

export function mount(main, { session }) {
  const err = h('p', { class: 'error', role: 'alert' });
  const out = h('div', { id: 'users-table' });
  const name = h('input', { id: 'u-name', required: true, pattern: '[A-Za-z0-9._-]{1,32}', autocomplete: 'off' });
  const pass = h('input', { id: 'u-password', type: 'password', required: true, minLength: 8, autocomplete: 'new-password' });
  const role = h('select', { id: 'u-role' }, h('option', { value: 'viewer' }, 'viewer'), h('option', { value: 'admin' }, 'admin'));
  const must = h('input', { id: 'u-must', type: 'checkbox' });

  const create = h('form', { class: 'filters wrap', id: 'user-create', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      await api.post('/users', { name: name.value.trim(), password: pass.value, role: role.value, must_change_password: must.checked });
      name.value = pass.value = '';
      must.checked = false;
      load();
    } catch (e) { err.textContent = e.message; }
  } },
  h('label', {}, 'Name', name), h('label', {}, 'Password', pass), h('label', {}, 'Role', role),
  h('label', { class: 'check' }, must, 'must change it'),
  h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Create user')));

  main.append(h('section', { class: 'card' }, h('h2', {}, 'Users'), err, out),
    h('section', { class: 'card' }, h('h2', {}, 'New user'), create));

  async function act(fn) {
    err.textContent = '';
    try { await fn(); load(); } catch (e) { err.textContent = e.message; }
  }

  async function load() {
    const r = await api.get('/users');
    out.replaceChildren(table([
      { label: 'Name', cell: (u) => h('strong', {}, u.name) },
      { label: 'Role', cell: (u) => u.role },
      { label: 'Password', cell: (u) => (u.factory ? 'factory' : u.must_change_password ? 'must change' : 'set') },
      { label: 'Created', class: 'hide-s', cell: (u) => when(u.created) },
      { label: '', class: 'actions', cell: (u) => [
        h('button', { type: 'button', class: 'secondary small', onclick: () => {
          const p = prompt(`New password for ${u.name} (at least 8 characters)`);
          if (p) act(() => api.put(`/users/${encodeURIComponent(u.name)}`, { password: p }));
        } }, 'Set password'),
        u.name === session.user ? null : h('button', { type: 'button', class: 'danger small', onclick: () => {
          if (confirm(`Delete user ${u.name}?`)) act(() => api.del(`/users/${encodeURIComponent(u.name)}`));
        } }, 'Delete'),
      ] },
    ], r.items));
  }
  return load().then(() => null);
}
