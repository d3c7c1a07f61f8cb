-- Return the processing list of a worker whose heartbeat stopped to its jobs' lanes, each first
-- in line of its key.
-- uses: codec, started, clock, lanes
-- KEYS[1] = workers zset   KEYS[2] = that worker's processing list   KEYS[3] = failed zset
-- KEYS[4] = stats hash     KEYS[5] = job key prefix                  KEYS[6] = started hash
-- KEYS[7] = reaped zset (the workers whose lists are watched)   KEYS[8..17] = the lanes block
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock): the failure time written into records
-- ARGV[2] = worker id   ARGV[3] = grace (ms)   ARGV[4] = max attempts
-- The worker must still be silent for longer than the grace by Redis's clock (reapable.lua
-- chose it; it may have beaten since).
-- Returns how many jobs went back to waiting, or REAP_BEAT_AGAIN when the worker beat again
-- meanwhile (nothing changes).
-- A job that died in its last attempt is dead-lettered instead, so a poison submission that
-- kills its worker cannot kill the fleet one worker at a time.
local L = lanes_keys(8)
local now, worker, grace, max_attempts = now_ms(ARGV[1]), ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4])
local beat = redis.call('ZSCORE', KEYS[1], worker)
if beat and tonumber(beat) >= redis_ms() - grace then
  return REAP_BEAT_AGAIN
end
local returned, failed, tally, ended = 0, 0, {}, {}
-- Newest first, each to the head of its lane: the oldest ends up first in line.
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local job_key = KEYS[5] .. id
  local raw = redis.call('GET', job_key)
  local who = redis.call('HGET', KEYS[6], id)
  -- An id whose job another worker holds now is a leftover: that attempt is not this one.
  if raw and not (who and parse_started(who) ~= worker) then
    local rec = rec_decode(raw)
    settle_started(rec, KEYS[6], id, nil, who, ended)
    if rec.status == ACTIVE and rec.attempts >= max_attempts then
      rec.status = FAILED
      rec.extra.f = now
      rec.extra.x = 'worker ' .. worker .. ' stopped during the last attempt (' .. rec.attempts .. ')'
      redis.call('SET', job_key, rec_encode(rec))
      redis.call('ZADD', KEYS[3], now, id)
      failed = failed + 1
    elseif rec.status == ACTIVE or rec.status == WAITING then
      if rec.status == ACTIVE then
        rec.status = WAITING
        rec.extra.x = 'worker ' .. worker .. ' stopped during attempt ' .. rec.attempts
        redis.call('SET', job_key, rec_encode(rec))
      end
      push_payload(L, rec.payload, id, true, tally)
      returned = returned + 1
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], worker)
lanes_flush(L, tally)
keys_ended(L, ended)
-- Taken for dead, it may only have been frozen: should it wake and move a job into its list
-- before it takes or beats again (both register it), its list would belong to nobody;
-- orphans.lua watches for that.
redis.call('ZADD', KEYS[7], redis_ms(), worker)
if returned > 0 then redis.call('HINCRBY', KEYS[4], 'recovered', returned) end
if failed > 0 then redis.call('HINCRBY', KEYS[4], 'failed', failed) end
return returned
