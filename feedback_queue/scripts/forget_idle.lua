-- Housekeeping: forget the start counts of keys with nothing waiting (a take leaves them, to
-- write one value per key), one bounded step of a scan per call.
-- uses: lanes
-- KEYS[1..10] = the lanes block
-- ARGV[1] = the scan cursor ('0' to begin)   ARGV[2] = about this many entries per call
-- Returns the next cursor ('0': the scan is over) and how many keys it forgot.
local L = lanes_keys(1)
local reply = redis.call('HSCAN', L.starts, ARGV[1], 'COUNT', tonumber(ARGV[2]))
local gone = {}
local entries = reply[2]
for i = 1, #entries, 2 do
  local key = entries[i]
  local lanes = {}
  for level = 1, LEVELS do
    lanes[level] = lane_name(L, level, key)
  end
  if redis.call('EXISTS', unpack(lanes)) == 0 then
    gone[#gone + 1] = key
  end
end
if #gone > 0 then redis.call('HDEL', L.starts, unpack(gone)) end
return {reply[1], #gone}
