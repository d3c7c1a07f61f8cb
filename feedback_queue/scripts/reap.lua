-- Return the processing list of a worker whose heartbeat stopped to its jobs' lanes, each first
-- in line of its key.
-- uses: codec, started, clock, lanes
-- KEYS[1] = workers zset   KEYS[2] = that worker's processing list   KEYS[3] = failed zset
-- KEYS[4] = stats hash     KEYS[5] = job key prefix                  KEYS[6] = started hash
-- KEYS[7] = reaped zset (the workers whose lists are watched)   KEYS[8..17] = the lanes block
-- KEYS[18] = leases zset   KEYS[19] = progress hash
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock): the failure time written into records
-- ARGV[2] = worker id   ARGV[3] = grace (ms)   ARGV[4] = max attempts
-- The worker must still be silent for longer than the grace by Redis's clock (reapable.lua
-- chose it; it may have beaten since).
-- Returns how many jobs went back to waiting, or REAP_BEAT_AGAIN when the worker beat again
-- meanwhile (nothing changes).
-- An attempt that reported progress within the grace (its own lease, progress.lua) is alive
-- whatever its worker's beats say: it stays, and so does its worker, registered as of that
-- report, so that it is looked at again when the lease runs out.
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
local kept, newest = {}, false
local since = redis_ms() - grace

-- Did the attempt of started entry `who` report within the grace?
local function leased(id, who)
  local stamp = who and redis.call('ZSCORE', KEYS[18], id)
  if not stamp or tonumber(stamp) < since then
    return false
  end
  local _, _, token = parse_started(who)
  return reported_by(redis.call('HGET', KEYS[19], id), token) and tonumber(stamp)
end

-- Newest first, each to the head of its lane: the oldest ends up first in line.
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local job_key = KEYS[5] .. id
  local raw = redis.call('GET', job_key)
  local who = redis.call('HGET', KEYS[6], id)
  local lease = raw and who and parse_started(who) == worker and leased(id, who)
  if lease then
    kept[#kept + 1] = id
    newest = math.max(newest or 0, lease)
  -- An id whose job another worker holds now is a leftover: that attempt is not this one.
  elseif raw and not (who and parse_started(who) ~= worker) then
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
lanes_flush(L, tally)
keys_ended(L, ended)
if newest then
  -- Its leased attempts stay, in their order; the worker stays registered as of the newest
  -- report, a sign of life by Redis's clock.
  redis.call('RPUSH', KEYS[2], unpack(kept))
  redis.call('ZADD', KEYS[1], newest, worker)
else
  redis.call('ZREM', KEYS[1], worker)
  -- Taken for dead, it may only have been frozen: should it wake and move a job into its
  -- list before it takes or beats again (both register it), its list would belong to nobody;
  -- orphans.lua watches for that.
  redis.call('ZADD', KEYS[7], redis_ms(), worker)
end
if returned > 0 then redis.call('HINCRBY', KEYS[4], 'recovered', returned) end
if failed > 0 then redis.call('HINCRBY', KEYS[4], 'failed', failed) end
return returned
