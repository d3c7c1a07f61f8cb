-- Housekeeping: forget the start counts of keys with no ACTIVE job and nothing waiting (an
-- ack leaves them, to stay one write per key), one bounded step of a scan per call.
-- uses: lanes
-- KEYS[1..10] = the lanes block
-- ARGV[1] = the scan cursor ('0' to begin)   ARGV[2] = about this many entries per call
-- Returns the next cursor ('0': the scan is over) and how many keys it forgot.
local L = lanes_keys(1)
local reply = redis.call('HSCAN', L.active, ARGV[1], 'COUNT', tonumber(ARGV[2]))
local idle = {}
local entries = reply[2]
for i = 1, #entries, 2 do
  if busy_parts(entries[i + 1]) == 0 then
    idle[#idle + 1] = entries[i]
  end
end
local gone = {}
if #idle > 0 then
  local waiting = redis.call('ZMSCORE', L.waiting, unpack(idle))
  for i, key in ipairs(idle) do
    if not waiting[i] then gone[#gone + 1] = key end
  end
  if #gone > 0 then redis.call('HDEL', L.active, unpack(gone)) end
end
return {reply[1], #gone}
