-- Top talkers: the hosts that moved the most bytes, with their busiest application protocol
-- and their share of the traffic. JSON.
--
--   GET /lua/top_talkers?n=10&local=true
--
-- n (1..100, default 10) hosts; local=true|false keeps local or remote hosts only.

local n = tonumber(request.params.n or "10")
if not n or n < 1 or n > 100 or n ~= math.floor(n) then
  return { error = "parameter 'n': a whole number from 1 to 100", parameter = "n" }, 400
end

local query = { sort = "bytes", order = "desc", limit = n }
if request.params["local"] ~= nil then query["local"] = request.params["local"] end
local ok, hosts = pcall(tapbox.hosts, query)
if not ok then
  return { error = tostring(hosts), parameter = "local" }, 400
end

local status = tapbox.status()
local total_bytes = status.totals.bytes

local items = {}
for _, h in ipairs(hosts.items) do
  local bytes = h.bytes_sent + h.bytes_rcvd
  local top, top_bytes = nil, 0
  for _, row in ipairs(h.l7 or {}) do
    if row.bytes > top_bytes then top, top_bytes = row.protocol, row.bytes end
  end
  items[#items + 1] = {
    ip = h.ip,
    vlan = h.vlan,
    ["local"] = h["local"],
    bytes = bytes,
    bytes_sent = h.bytes_sent,
    bytes_rcvd = h.bytes_rcvd,
    flows_active = h.flows_active,
    share = total_bytes > 0 and math.floor(bytes * 1000 / total_bytes) / 10 or 0,
    top_protocol = top,
  }
end

return {
  page = "top_talkers",
  hosts_total = hosts.total,
  bytes_total = total_bytes,
  items = items,
}
