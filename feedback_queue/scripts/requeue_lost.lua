-- Put WAITING jobs that no structure holds back into their lanes, first in line (fbq check
-- --repair).
-- uses: codec, lanes
-- KEYS[1] = delayed zset   KEYS[2] = failed zset   KEYS[3] = job key prefix
-- KEYS[4..13] = the lanes block   KEYS[14..] = every processing list the caller knows of
-- ARGV = ids
-- Returns how many went back. An id is left alone unless, as the script runs, its record says
-- WAITING and it is in none of those lists and sets: a job that moved since the caller looked
-- is not lost. Only the lanes feed the processing lists, so a job in none of them cannot be on
-- its way into one.
local L = lanes_keys(4)
local back, tally = 0, {}
for _, id in ipairs(ARGV) do
  local raw = redis.call('GET', KEYS[3] .. id)
  local rec = raw and rec_decode(raw)
  local lost = rec and rec.status == WAITING
    and not redis.call('ZSCORE', KEYS[1], id)
    and not redis.call('ZSCORE', KEYS[2], id)
  if lost then
    local level, key = lane_of(rec.payload)
    lost = not redis.call('LPOS', lane_name(L, level, key), id)
  end
  if lost then
    for i = 14, #KEYS do
      if redis.call('LPOS', KEYS[i], id) then
        lost = false
        break
      end
    end
  end
  if lost then
    push_payload(L, rec.payload, id, true, tally)
    back = back + 1
  end
end
lanes_flush(L, tally)
return back
