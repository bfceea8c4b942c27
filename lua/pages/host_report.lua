-- A one-page HTML report about one host: traffic, application protocols, peers and largest
-- flows. Meant for printing or for a link from the hosts table.
--
--   GET /lua/host_report?ip=192.168.1.23[&vlan=0]

local ip = request.params.ip
if not ip or ip == "" then
  return "<p>Give the host: <code>?ip=ADDRESS</code></p>", "text/html", 400
end

local esc = tapbox.html
local ok, host, why = pcall(tapbox.host, ip, { vlan = request.params.vlan or 0, flows = 20, peers = 10 })
if not ok then -- a bad address or vlan: the message says which
  return "<p>" .. esc(tostring(host)) .. "</p>", "text/html", 400
end

local function bytes(n)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do n = n / 1024; i = i + 1 end
  return (i == 1 and string.format("%d %s", n, units[i])) or string.format("%.1f %s", n, units[i])
end

local function when(t)
  return os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(t))
end

local out = {}
local function add(...) for _, s in ipairs({ ... }) do out[#out + 1] = s end end

add([[<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapbox: ]], esc(ip), [[</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
</style></head><body>]])

if not host then
  add("<h1>", esc(ip), "</h1><p>", esc(why), "</p></body></html>")
  return table.concat(out), "text/html", 404
end

add("<h1>", esc(host.ip), host["local"] and " (local)" or " (remote)", "</h1>")
add("<table>",
    "<tr><th>VLAN</th><td>", tostring(host.vlan), "</td></tr>",
    "<tr><th>First seen</th><td>", when(host.first_seen), "</td></tr>",
    "<tr><th>Last seen</th><td>", when(host.last_seen), "</td></tr>",
    "<tr><th>Sent</th><td class=n>", bytes(host.bytes_sent), " in ", tostring(host.packets_sent), " packets</td></tr>",
    "<tr><th>Received</th><td class=n>", bytes(host.bytes_rcvd), " in ", tostring(host.packets_rcvd), " packets</td></tr>",
    "<tr><th>Flows</th><td class=n>", tostring(host.flows_active), " active, ", tostring(host.flows_total), " in all</td></tr>",
    "</table>")

if host.l7 and #host.l7 > 0 then
  table.sort(host.l7, function(a, b) return a.bytes > b.bytes end)
  add("<h2>Application protocols</h2><table><tr><th>Protocol</th><th>Flows</th><th>Bytes</th></tr>")
  for _, row in ipairs(host.l7) do
    add("<tr><td>", esc(row.protocol), "</td><td class=n>", tostring(row.flows),
        "</td><td class=n>", bytes(row.bytes), "</td></tr>")
  end
  add("</table>")
end

add("<h2>Peers</h2><table><tr><th>Address</th><th>Flows</th><th>Bytes</th></tr>")
for _, p in ipairs(host.peers) do
  add("<tr><td>", esc(p.ip), "</td><td class=n>", tostring(p.flows), "</td><td class=n>",
      bytes(p.bytes), "</td></tr>")
end
add("</table>")

add("<h2>Largest flows (", tostring(#host.flows), " of ", tostring(host.flows_count), ")</h2>",
    "<table><tr><th>Protocol</th><th>Client</th><th>Server</th><th>Application</th><th>Bytes</th></tr>")
for _, f in ipairs(host.flows) do
  local total = f.client_to_server.bytes + f.server_to_client.bytes
  add("<tr><td>", esc(tostring(f.protocol)), "</td><td>", esc(f.client.ip), ":", tostring(f.client.port),
      "</td><td>", esc(f.server.ip), ":", tostring(f.server.port), "</td><td>", esc(f.l7),
      "</td><td class=n>", bytes(total), "</td></tr>")
end
add("</table><p><small>tapbox ", esc(tapbox.version), ", ", when(os.time()), "</small></p></body></html>")

return table.concat(out)
