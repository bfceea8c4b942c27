// The REST API client: JSON in and out, the CSRF token on state changes, and the
// X-Tapbox-Background header on polling so that it does not keep an idle session alive.

export const session = { user: null, role: null, csrf: null, mustChange: false };

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// Set by the app: called on 401 (logged out) and on a forced password change.
export const hooks = { onUnauthorized: () => {}, onMustChange: () => {} };

async function call(method, path, { params, body, background = false } = {}) {
  let url = '/api/v1' + path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) q.set(k, v);
    if ([...q].length) url += '?' + q;
  }
  const headers = { Accept: 'application/json' };
  if (background) headers['X-Tapbox-Background'] = '1';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { /* empty or not JSON */ }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !['/login', '/password', '/session'].includes(path)) hooks.onUnauthorized(err);
    else if (res.status === 403 && data && data.password_change_required) hooks.onMustChange(err);
    throw err;
  }
  return data;
}

export const get = (path, params, opts = {}) => call('GET', path, { ...opts, params });
export const post = (path, body) => call('POST', path, { body });
export const put = (path, body) => call('PUT', path, { body });
export const del = (path) => call('DELETE', path);

function remember(s) {
  session.user = s.user;
  session.role = s.role;
  session.csrf = s.csrf_token || null;
  session.mustChange = !!s.must_change_password;
  session.loginDisabled = !!s.login_disabled;
  return s;
}

/** Who is logged in (null when nobody). */
export async function loadSession() {
  try {
    return remember(await call('GET', '/session'));
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function login(user, password) {
  return remember(await call('POST', '/login', { body: { user, password } }));
}

export async function changePassword(oldPassword, newPassword) {
  const r = await post('/password', { old_password: oldPassword, new_password: newPassword });
  session.mustChange = false;
  return r;
}

export async function logout() {
  try { await post('/logout'); } finally {
    Object.assign(session, { user: null, role: null, csrf: null, mustChange: false });
  }
}

// Whether tapboxd keeps a history (-F): asked once (GET /status, `history.enabled`), since it
// cannot change while tapboxd runs. Pages ask before they request a history endpoint, so a box
// without one shows no history widget and its log shows no 409 (a 409 still hides them).
let historyOn = null;

/** Promise of true when the box has a history; false when it has none or the answer failed. */
export function historyEnabled() {
  if (!historyOn) {
    historyOn = get('/status', null, { background: true }).then(
      (s) => !!(s.history && s.history.enabled),
      () => { historyOn = null; return false; }); // not known: ask again next time
  }
  return historyOn;
}

/** A history endpoint answered 409 (history off): remember it. */
export function historyOff() { historyOn = Promise.resolve(false); }

/** True for the 409 of a box without a history. */
export const isHistoryOff = (e) => e instanceof ApiError && e.status === 409;
