// One flow in detail, and the flow cells the tables share (name, risk). The detail is a dialog
// over the page with every field the API gave for the flow, grouped: endpoints and counters,
// application, TLS, DNS, risks and TCP health; a group with no data is not shown. Fields that
// come later (TCP health) are shown when present. Every value goes in as text.
import { h, bytes, si, when, dateTime, duration, hostLink } from './util.js';

/** A risk score from here on is marked as high (nDPI's scores: 10 low, 50 medium, 100 high). */
export const HIGH_RISK = 100;

/** What a flow is called: the name nDPI found (SNI, Host, DNS query), else the server address. */
export const flowName = (f) => f.host_name || f.server.ip;

const hasRisk = (f) => (f.risk_score || 0) > 0 || (f.risks || []).length > 0;

/** The Risk cell: the score, the risks' names in its tooltip, marked from HIGH_RISK on. */
export function riskCell(f) {
  if (!hasRisk(f)) return '';
  const high = f.risk_score >= HIGH_RISK;
  return h('span', { class: high ? 'risk high' : 'risk', title: (f.risks || []).join(', ') }, String(f.risk_score || 0));
}

const present = (v) => v !== undefined && v !== null && v !== '';
const ms = (us) => `${(us / 1000).toFixed(us < 10000 ? 2 : 1)} ms`;
/** An address and port, the address linking to its host page. */
export const endpoint = (e) => h('span', { class: 'endpoint' }, hostLink(e.ip), e.port ? h('span', { class: 'port' }, `:${e.port}`) : null);
const direction = (d) => `${bytes(d.bytes)} · ${si(d.packets)} pkt`;

/** [label, value] pairs, those without a value left out. */
const rows = (...pairs) => pairs.filter(([, v]) => present(v));

function validity(f) {
  if (!f.tls_not_before && !f.tls_not_after) return null;
  const expired = f.tls_not_after && f.tls_not_after < f.last_seen;
  const early = f.tls_not_before && f.tls_not_before > f.first_seen;
  return `${dateTime(f.tls_not_before) || '?'} to ${dateTime(f.tls_not_after) || '?'}`
    + (expired ? ' (expired)' : early ? ' (not yet valid)' : '');
}

const TCP_COUNTERS = [['retransmissions', 'Retransmissions'], ['out_of_order', 'Out of order'], ['zero_windows', 'Zero windows']];

function tcpHealth(f) {
  const c2s = f.client_to_server || {}, s2c = f.server_to_client || {};
  const out = rows(['RTT, client side', present(f.rtt_client_us) ? ms(f.rtt_client_us) : null],
    ['RTT, server side', present(f.rtt_server_us) ? ms(f.rtt_server_us) : null]);
  for (const [key, label] of TCP_COUNTERS) {
    if (present(c2s[key]) || present(s2c[key])) {
      out.push([label, `client → server ${si(c2s[key] ?? 0)} · server → client ${si(s2c[key] ?? 0)}`]);
    }
  }
  return out;
}

/** The flow's groups: [{id, title, rows: [[label, value]]}], the empty ones left out. */
export function flowSections(f) {
  const c2s = f.client_to_server, s2c = f.server_to_client;
  return [
    { id: 'endpoints', title: 'Endpoints and counters', rows: rows(
      ['Client', endpoint(f.client)], ['Server', endpoint(f.server)],
      ['Protocol', `${f.protocol}${f.ip_version ? ` (IPv${f.ip_version})` : ''}`],
      ['VLAN', f.vlan || null], ['Source', f.source], ['Client side', f.client_side], ['Verdict', f.verdict],
      ['Client → server', direction(c2s)], ['Server → client', direction(s2c)],
      ['First seen', when(f.first_seen)], ['Last seen', when(f.last_seen)],
      ['Duration', duration(f.last_seen - f.first_seen)]) },
    { id: 'application', title: 'Application', rows: rows(
      ['Protocol', f.l7 ? f.l7 + (f.l7_guessed ? ' (guessed)' : '') : null], ['Category', f.category],
      ['Host name', f.host_name], ['URL', f.url], ['User agent', f.user_agent], ['HTTP status', f.http_status]) },
    { id: 'tls', title: 'TLS', rows: rows(
      ['JA3C', f.ja3c], ['JA3S', f.ja3s], ['Issuer', f.tls_issuer], ['Subject', f.tls_subject], ['Valid', validity(f)]) },
    { id: 'dns', title: 'DNS', rows: rows(['Query type', f.dns_qtype], ['Answer', f.dns_rcode]) },
    { id: 'risks', title: 'Risks', rows: hasRisk(f) ? rows(['Score', riskCell(f)],
      ['Risks', (f.risks || []).length ? h('ul', { class: 'plain' }, f.risks.map((r) => h('li', {}, r))) : null]) : [] },
    { id: 'tcp', title: 'TCP health', rows: tcpHealth(f) },
  ].filter((s) => s.rows.length);
}

const MONO = new Set(['JA3C', 'JA3S', 'URL']);

function section(s) {
  return h('section', { class: 'detail', 'data-section': s.id }, h('h3', {}, s.title),
    h('dl', { class: 'kv' }, s.rows.map(([label, value]) => [
      h('dt', {}, label), h('dd', { class: MONO.has(label) ? 'mono' : null }, value)])));
}

/** Open the flow's dialog (one at a time, inside <main>: a page change takes it away). */
export function showFlow(f) {
  document.getElementById('flow-detail')?.remove();
  const close = () => dialog.close();
  const dialog = h('dialog', { id: 'flow-detail', class: 'card', 'aria-labelledby': 'flow-detail-title',
    onclick: (ev) => { if (ev.target === dialog) close(); }, // the backdrop
    onclose: () => dialog.remove() },
  h('div', { class: 'card-head' },
    h('h2', { id: 'flow-detail-title' }, flowName(f)),
    h('button', { type: 'button', class: 'secondary small', id: 'flow-detail-close', onclick: close }, 'Close')),
  flowSections(f).map(section));
  (document.getElementById('main') || document.body).append(dialog);
  dialog.showModal();
  return dialog;
}

/** A table row's attributes: a click anywhere but on a link or button opens the flow. */
export const flowRow = (f) => ({
  class: 'clickable',
  onclick: (ev) => { if (!ev.target.closest('a, button')) showFlow(f); },
});
