-- Library: consuming, the worker's side: complete jobs (ack_jobs) and take more (take_jobs).
-- uses: codec, clock, limiter, started
-- Completing and taking share one KEYS layout, so a worker can do both in one call
-- (ack_take.lua) as well as apart (ack.lua, take.lua):
--   KEYS[1] = waiting list      KEYS[2] = this worker's processing list   KEYS[3] = delayed zset
--   KEYS[4] = failed zset       KEYS[5] = completed index zset            KEYS[6] = stats hash
--   KEYS[7] = job key prefix    KEYS[8] = started hash   KEYS[9] = paused flag
--   KEYS[10] = global rate limiter (gcra_admit without a TTL)   KEYS[11] = workers zset

-- Complete the jobs named in ARGV[first..] as id, token, result triples, each taken by `worker`
-- with that token: drop them from the processing list, store the result, start retention.
-- Returns one outcome per job (ACK_COMPLETED, ACK_ALREADY, ACK_STALE). Fenced: an ack whose
-- token no longer holds the attempt (the worker was reaped, the job retried, taken again) is
-- refused and changes nothing but this: its id leaves this worker's processing list (unless
-- the worker holds the job again under a newer token) and `stale_outcomes` counts it; the job
-- runs again (at-least-once). Replay-safe: an ack of a COMPLETED job with the token that
-- completed it (kept in the record, `k`) is ACK_ALREADY, a no-op.
local function ack_jobs(now, retention, worker, first)
  local out, done, stale = {}, 0, 0
  local settled, index = {}, {}
  for i = first, #ARGV, 3 do
    local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local job_key = KEYS[7] .. id
    local who = redis.call('HGET', KEYS[8], id)
    local head = redis.call('GETRANGE', job_key, 0, 3)
    local flags, status = 0, nil
    if #head == 4 then
      flags, status = struct.unpack('>BB', head)
    end
    if status and holds(who, token) then
      redis.call('LREM', KEYS[2], 1, id)
      if flags == REC_PLAIN then
        -- The common case, a first attempt: patch the header and append the extras, so the
        -- payload is neither copied here nor written to the AOF again.
        local rec = {extra = {}}
        settle_started(rec, KEYS[8], id, settled, who)
        rec.extra.f = now
        rec.extra.r = result
        rec.extra.k = token
        local extra = cmsgpack.pack(rec.extra)
        redis.call('SETRANGE', job_key, 0, struct.pack('>BB', REC_WITH_EXTRAS, COMPLETED))
        redis.call('APPEND', job_key, extra .. struct.pack('>I4', #extra))
        redis.call('PEXPIRE', job_key, retention)
      else
        local rec = rec_decode(redis.call('GET', job_key))
        settle_started(rec, KEYS[8], id, settled, who)
        rec.status = COMPLETED
        rec.extra.f = now
        rec.extra.r = result
        rec.extra.k = token
        rec.extra.d = nil
        redis.call('SET', job_key, rec_encode(rec), 'PX', retention)
      end
      index[#index + 1] = now
      index[#index + 1] = id
      done = done + 1
      out[#out + 1] = ACK_COMPLETED
    else
      if not (who and parse_started(who) == worker) then
        redis.call('LREM', KEYS[2], 1, id)
      end
      -- A replay of the ack that completed the job presents that attempt's token: ALREADY.
      -- Any other token (a reaped attempt whose job ran again and completed) is stale.
      if status == COMPLETED and rec_decode(redis.call('GET', job_key)).extra.k == token then
        out[#out + 1] = ACK_ALREADY
      else
        stale = stale + 1
        out[#out + 1] = ACK_STALE
      end
    end
  end
  if done > 0 then
    redis.call('ZADD', KEYS[5], unpack(index))
    redis.call('HINCRBY', KEYS[6], 'completed', done)
  end
  if stale > 0 then
    redis.call('HINCRBY', KEYS[6], 'stale_outcomes', stale)
  end
  if #settled > 0 then
    redis.call('HDEL', KEYS[8], unpack(settled))
  end
  return out
end

-- Move up to n waiting jobs, oldest first, into the processing list and mark them ACTIVE.
-- Returns a state (TakeState), `now`, then id1, record1, token1, id2, record2, token2, ...:
-- TAKE_OK normally (maybe no jobs), TAKE_PAUSED while the queue is paused, or the ms to wait
-- while the global rate limit (KEYS[10]) allows none (no jobs).
local function take_jobs(now, worker, n, rate, period)
  if redis.call('EXISTS', KEYS[9]) == 1 then
    return {TAKE_PAUSED, now}
  end
  n = math.min(n, redis.call('LLEN', KEYS[1]))
  if n == 0 then
    return {TAKE_OK, now}
  end
  local allowed, wait = gcra_admit(KEYS[10], now, rate, period, n)
  if allowed == 0 then
    return {wait, now}
  end
  local ids = redis.call('LRANGE', KEYS[1], -allowed, -1)
  redis.call('LTRIM', KEYS[1], 0, -#ids - 1)
  local oldest_first = {}
  for i = #ids, 1, -1 do
    oldest_first[#oldest_first + 1] = ids[i]
  end
  redis.call('LPUSH', KEYS[2], unpack(oldest_first))  -- the newest ends up at the head
  -- A processing list always has its worker registered, so the reaper finds it: a worker that
  -- was reaped (while frozen, say) and takes again is registered again, as if it had beaten
  -- (by Redis's clock, as every beat).
  register(KEYS[11], worker)
  local out, marks = {TAKE_OK, now}, {}
  local fence = draw_fences(KEYS[6], #ids)
  for i = #ids, 1, -1 do
    local id = ids[i]
    fence = fence + 1
    local raw, token = mark_active(KEYS[7] .. id, KEYS[2], KEYS[8], id, worker, now, fence, marks)
    if raw then
      out[#out + 1] = id
      out[#out + 1] = raw
      out[#out + 1] = token
    end
  end
  if #marks > 0 then
    redis.call('HSET', KEYS[8], unpack(marks))
  end
  return out
end
