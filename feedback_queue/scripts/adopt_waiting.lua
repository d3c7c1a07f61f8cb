-- After an upgrade: move ids of the waiting list of versions before lanes (`{fbq:Q}:waiting`,
-- first in line at its right end) into their lanes, oldest first, each behind its key's work.
-- uses: codec, lanes
-- KEYS[1] = the old waiting list   KEYS[2] = job key prefix   KEYS[3..12] = the lanes block
-- ARGV[1] = at most this many
-- Returns how many ids it moved (those whose record is gone or no longer WAITING only leave
-- the old list: another structure holds them, or nothing should), and how many are left.
-- Replay-safe: a moved id is no longer in the old list.
local L = lanes_keys(3)
local moved, tally = 0, {}
for _, id in ipairs(redis.call('RPOP', KEYS[1], tonumber(ARGV[1])) or {}) do
  local raw = redis.call('GET', KEYS[2] .. id)
  if raw then
    local rec = rec_decode(raw)
    if rec.status == WAITING then
      push_payload(L, rec.payload, id, false, tally)
      moved = moved + 1
    end
  end
end
lanes_flush(L, tally)
return {moved, redis.call('LLEN', KEYS[1])}
