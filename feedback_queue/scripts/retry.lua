-- Admin retry: FAILED jobs go to the back of waiting with their attempts starting over.
-- uses: codec
-- KEYS[1] = failed zset   KEYS[2] = waiting list   KEYS[3] = stats hash   KEYS[4] = job key prefix
-- ARGV = ids
-- Returns one outcome per id: RETRY_RETRIED, RETRY_NOT_FOUND, or RETRY_NOT_FAILED (nothing
-- changes).
local out = {}
local retried = 0
for i = 1, #ARGV do
  local id = ARGV[i]
  local job_key = KEYS[4] .. id
  local raw = redis.call('GET', job_key)
  local outcome = RETRY_NOT_FOUND
  if raw then
    local rec = rec_decode(raw)
    if rec.status == FAILED then
      redis.call('ZREM', KEYS[1], id)
      rec.status = WAITING
      rec.attempts = 0
      rec.extra.f = nil
      redis.call('SET', job_key, rec_encode(rec))
      redis.call('LPUSH', KEYS[2], id)
      retried = retried + 1
      outcome = RETRY_RETRIED
    else
      outcome = RETRY_NOT_FAILED
    end
  end
  out[#out + 1] = outcome
end
if retried > 0 then redis.call('HINCRBY', KEYS[3], 'admin_retried', retried) end
return out
