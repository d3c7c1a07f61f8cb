-- Admin retry: FAILED jobs go to the back of their lanes with their attempts starting over.
-- uses: codec, lanes
-- KEYS[1] = failed zset   KEYS[2] = stats hash   KEYS[3] = job key prefix
-- KEYS[4..13] = the lanes block
-- ARGV = ids
-- Returns one outcome per id: RETRY_RETRIED, RETRY_NOT_FOUND, or RETRY_NOT_FAILED (nothing
-- changes).
local L = lanes_keys(4)
local out, tally = {}, {}
local retried = 0
for i = 1, #ARGV do
  local id = ARGV[i]
  local job_key = KEYS[3] .. id
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
      push_payload(L, rec.payload, id, false, tally)
      retried = retried + 1
      outcome = RETRY_RETRIED
    else
      outcome = RETRY_NOT_FAILED
    end
  end
  out[#out + 1] = outcome
end
lanes_flush(L, tally)
if retried > 0 then redis.call('HINCRBY', KEYS[2], 'admin_retried', retried) end
return out
