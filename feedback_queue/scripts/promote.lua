-- Move delayed jobs whose time has come to their lanes: a retry after backoff first in line of
-- its key, a delayed submit behind its key's waiting work.
-- uses: codec, clock, lanes
-- KEYS[1] = delayed zset   KEYS[2] = job key prefix   KEYS[3..12] = the lanes block
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = at most this many
-- Returns how many were promoted. Replay-safe: a promoted id is no longer due.
local L = lanes_keys(3)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
local moved, tally = 0, {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local job_key = KEYS[2] .. id
  local raw = redis.call('GET', job_key)
  local rec = raw and rec_decode(raw)
  -- Only a DELAYED job is due: any other (cancelled, say) only leaves delayed.
  if rec and rec.status == DELAYED then
    rec.status = WAITING
    rec.extra.d = nil
    redis.call('SET', job_key, rec_encode(rec))
    push_payload(L, rec.payload, id, rec.attempts > 0, tally)
    moved = moved + 1
  end
end
lanes_flush(L, tally)
return moved
