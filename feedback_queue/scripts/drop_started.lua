-- Drop the `started` entries of jobs that are not ACTIVE (fbq check --repair): such an entry
-- names a runner for a job nobody runs, and the next attempt's end would move it into the record.
-- uses: codec, started, lanes
-- KEYS[1] = started hash   KEYS[2] = job key prefix   KEYS[3..12] = the lanes block
-- ARGV = ids
-- Returns how many entries went. An entry stays when, as the script runs, its job is ACTIVE
-- (it started again since the caller looked).
local L = lanes_keys(3)
local dropped, ended = 0, {}
for _, id in ipairs(ARGV) do
  local raw = redis.call('GET', KEYS[2] .. id)
  if not (raw and rec_decode(raw).status == ACTIVE) then
    count_end(ended, redis.call('HGET', KEYS[1], id))
    dropped = dropped + redis.call('HDEL', KEYS[1], id)
  end
end
keys_ended(L, ended)
return dropped
