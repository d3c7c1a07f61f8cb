-- Move delayed jobs whose time has come to the back of waiting.
-- uses: codec, clock
-- KEYS[1] = delayed zset   KEYS[2] = waiting list   KEYS[3] = job key prefix
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = at most this many
-- Returns how many were promoted. Replay-safe: a promoted id is no longer due.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local job_key = KEYS[3] .. id
  local raw = redis.call('GET', job_key)
  if raw then
    local rec = rec_decode(raw)
    rec.status = WAITING
    rec.extra.d = nil
    redis.call('SET', job_key, rec_encode(rec))
    redis.call('LPUSH', KEYS[2], id)
    moved = moved + 1
  end
end
return moved
