-- Record failed attempts: back off into delayed, or dead-letter into failed.
-- uses: codec, clock, started, lanes
-- KEYS[1] = this worker's processing list   KEYS[2] = delayed zset   KEYS[3] = failed zset
-- KEYS[4] = stats hash                      KEYS[5] = job key prefix
-- KEYS[6] = started hash   KEYS[7..16] = the lanes block (for the key's count of ACTIVE jobs)
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = worker id
-- then 4 per job: id, the failed attempt's token, error, backoff (ms from now; 0: FAILED)
-- Returns one outcome per job: FAIL_DELAYED, FAIL_DEAD (now FAILED), FAIL_CANCELLED (cancelled
-- while it ran: nothing changed), or FAIL_STALE: the token
-- no longer holds the attempt (a replayed call, or the worker was reaped, the job retried or
-- taken again meanwhile). A stale failure changes nothing but this: its id leaves this worker's
-- processing list (unless the worker holds the job again under a newer token) and
-- `stale_outcomes` counts it.
local L = lanes_keys(7)
local now, worker = now_ms(ARGV[1]), ARGV[2]
local out, ended = {}, {}
local retried, failed, stale = 0, 0, 0
for i = 3, #ARGV, 4 do
  local id, token, err, backoff = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local job_key = KEYS[5] .. id
  local who = redis.call('HGET', KEYS[6], id)
  local raw = holds(who, token) and redis.call('GET', job_key)
  local rec = raw and rec_decode(raw)
  local outcome = FAIL_STALE
  if rec and rec.status == ACTIVE then
    redis.call('LREM', KEYS[1], 1, id)
    settle_started(rec, KEYS[6], id, nil, who, ended)
    rec.extra.x = err
    if backoff > 0 then
      local retry_at = now + backoff
      rec.status = DELAYED
      rec.extra.d = retry_at
      redis.call('ZADD', KEYS[2], retry_at, id)
      retried = retried + 1
      outcome = FAIL_DELAYED
    else
      rec.status = FAILED
      rec.extra.f = now
      redis.call('ZADD', KEYS[3], now, id)
      failed = failed + 1
      outcome = FAIL_DEAD
    end
    redis.call('SET', job_key, rec_encode(rec))
  else
    if not (who and parse_started(who) == worker) then
      redis.call('LREM', KEYS[1], 1, id)
    end
    if rec_status(job_key) == CANCELLED then
      outcome = FAIL_CANCELLED
    else
      stale = stale + 1
    end
  end
  out[#out + 1] = outcome
end
keys_ended(L, ended)
if retried > 0 then redis.call('HINCRBY', KEYS[4], 'retried', retried) end
if failed > 0 then redis.call('HINCRBY', KEYS[4], 'failed', failed) end
if stale > 0 then redis.call('HINCRBY', KEYS[4], 'stale_outcomes', stale) end
return out
