// The single-page app: hash routes, the header, the login gate and the page lifecycle.
import * as api from './api.js';
import { h, route } from './util.js';
import * as login from './pages/login.js';
import * as password from './pages/password.js';
import * as dashboard from './pages/dashboard.js';
import * as hosts from './pages/hosts.js';
import * as host from './pages/host.js';
import * as flows from './pages/flows.js';
import * as history from './pages/history.js';
import * as users from './pages/users.js';
import * as taps from './pages/taps.js';
import * as ports from './pages/ports.js';
import * as protocols from './pages/protocols.js';
import * as settings from './pages/settings.js';

const routes = [
  { re: /^\/$/, page: dashboard, nav: '/' },
  { re: /^\/hosts$/, page: hosts, nav: '/hosts' },
  { re: /^\/host\/([^/]+)$/, page: host, nav: '/hosts' },
  { re: /^\/flows$/, page: flows, nav: '/flows' },
  { re: /^\/history$/, page: history, nav: '/history' },
  { re: /^\/protocols$/, page: protocols, nav: '/protocols' },
  { re: /^\/ports$/, page: ports, nav: '/ports' },
  { re: /^\/taps$/, page: taps, nav: '/taps' },
  { re: /^\/users$/, page: users, nav: '/users', admin: true },
  { re: /^\/settings$/, page: settings, nav: '/settings' },
  { re: /^\/password$/, page: password, nav: '/password' },
  { re: /^\/login$/, page: login, public: true },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let current = null; // the mounted page's cleanup function

function go(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

api.hooks.onUnauthorized = () => { if (route().path !== '/login') go('#/login'); };
api.hooks.onMustChange = () => { api.session.mustChange = true; go('#/password'); };

function header(active) {
  const s = api.session;
  const links = [['/', 'Dashboard'], ['/hosts', 'Hosts'], ['/flows', 'Flows'], ['/protocols', 'Protocols'],
    ['/ports', 'Ports'], ['/taps', 'Taps'], ['/history', 'History']];
  if (s.role === 'admin') links.push(['/users', 'Users']);
  links.push(['/settings', 'Settings']);
  nav.replaceChildren(...(s.user && !s.mustChange ? links : []).map(([p, label]) =>
    h('a', { href: '#' + p, class: p === active ? 'active' : null }, label)));
  who.replaceChildren();
  if (!s.user) return;
  who.append(
    h('a', { href: '#/password', title: 'Change my password', class: 'user' }, s.user),
    s.loginDisabled ? null : h('button', {
      type: 'button', id: 'logout', class: 'link', onclick: async () => {
        await api.logout().catch(() => {});
        go('#/login');
      },
    }, 'Log out'));
}

async function render() {
  if (current) { try { current(); } catch { /* ignore */ } current = null; }
  const { path, params } = route();
  const r = routes.find((x) => x.re.test(path));
  if (!r) { go('#/'); return; }
  if (!r.public && !api.session.user) {
    const s = await api.loadSession().catch(() => null);
    if (!s) { go('#/login'); return; }
  }
  if (api.session.user && api.session.mustChange && r.page !== password) { go('#/password'); return; }
  if (r.admin && api.session.role !== 'admin') { go('#/'); return; }
  document.body.classList.toggle('public', !!r.public);
  header(r.nav);
  const args = path.match(r.re).slice(1).map(decodeURIComponent);
  main.replaceChildren();
  main.scrollTop = 0;
  try {
    current = (await r.page.mount(main, { params, args, go, session: api.session })) || null;
  } catch (e) {
    if (e instanceof api.ApiError && (e.status === 401 || e.body.password_change_required)) return;
    main.replaceChildren(h('p', { class: 'error' }, `Error: ${e.message}`));
  }
}

window.addEventListener('hashchange', render);
render();
