-- Library: consuming, the worker's side: complete jobs (ack_jobs) and take more (take_jobs).
-- uses: codec, clock, limiter, started, lanes
-- Completing and taking share one KEYS layout, so a worker can do both in one call
-- (ack_take.lua) as well as apart (ack.lua, take.lua):
--   KEYS[1] = this worker's processing list   KEYS[2] = delayed zset   KEYS[3] = failed zset
--   KEYS[4] = completed index zset   KEYS[5] = stats hash   KEYS[6] = job key prefix
--   KEYS[7] = started hash   KEYS[8] = paused flag
--   KEYS[9] = global rate limiter (gcra_admit without a TTL)   KEYS[10] = workers zset
--   KEYS[11..20] = the lanes block (lib/lanes.lua)
--   KEYS[21] = progress hash   KEYS[22] = leases zset (progress.lua)
local L = lanes_keys(11)

-- Complete the jobs named in ARGV[first..] as id, token, result triples, each taken by `worker`
-- with that token: drop them from the processing list, store the result, start retention.
-- Returns one outcome per job (ACK_COMPLETED, ACK_ALREADY, ACK_STALE, ACK_CANCELLED). Fenced: an ack whose
-- token no longer holds the attempt (the worker was reaped, the job retried, taken again) is
-- refused and changes nothing but this: its id leaves this worker's processing list (unless
-- the worker holds the job again under a newer token) and `stale_outcomes` counts it; the job
-- runs again (at-least-once). Replay-safe: an ack of a COMPLETED job with the token that
-- completed it (kept in the record, `k`) is ACK_ALREADY, a no-op. The ack of a job cancelled
-- while it ran is ACK_CANCELLED: the cancel revoked the attempt (lib/cancelling.lua).
local function ack_jobs(now, retention, worker, first)
  local out, done, stale = {}, 0, 0
  local settled, index, ended = {}, {}, {}
  for i = first, #ARGV, 3 do
    local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local job_key = KEYS[6] .. id
    local who = redis.call('HGET', KEYS[7], id)
    local head = redis.call('GETRANGE', job_key, 0, 3)
    local flags, status = 0, nil
    if #head == 4 then
      flags, status = struct.unpack('>BB', head)
    end
    if status and holds(who, token) then
      redis.call('LREM', KEYS[1], 1, id)
      if flags == REC_PLAIN then
        -- The common case, a first attempt: patch the header and append the extras, so the
        -- payload is neither copied here nor written to the AOF again.
        local rec = {extra = {}}
        settle_started(rec, KEYS[7], id, settled, who, ended)
        rec.extra.f = now
        rec.extra.r = result
        rec.extra.k = token
        local extra = cmsgpack.pack(rec.extra)
        redis.call('SETRANGE', job_key, 0, struct.pack('>BB', REC_WITH_EXTRAS, COMPLETED))
        redis.call('APPEND', job_key, extra .. struct.pack('>I4', #extra))
        redis.call('PEXPIRE', job_key, retention)
      else
        local rec = rec_decode(redis.call('GET', job_key))
        settle_started(rec, KEYS[7], id, settled, who, ended)
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
        redis.call('LREM', KEYS[1], 1, id)
      end
      -- A replay of the ack that completed the job presents that attempt's token: ALREADY.
      -- Any other token (a reaped attempt whose job ran again and completed) is stale.
      if status == COMPLETED and rec_decode(redis.call('GET', job_key)).extra.k == token then
        out[#out + 1] = ACK_ALREADY
      elseif status == CANCELLED then
        -- Cancelled while it ran: the attempt was revoked on purpose, not lost.
        out[#out + 1] = ACK_CANCELLED
      else
        stale = stale + 1
        out[#out + 1] = ACK_STALE
      end
    end
  end
  if done > 0 then
    redis.call('ZADD', KEYS[4], unpack(index))
    redis.call('HINCRBY', KEYS[5], 'completed', done)
  end
  if stale > 0 then
    redis.call('HINCRBY', KEYS[5], 'stale_outcomes', stale)
  end
  if #settled > 0 then
    redis.call('HDEL', KEYS[7], unpack(settled))
    -- The completed attempts' progress reports and leases, when any attempt reports at all.
    if redis.call('EXISTS', KEYS[21]) == 1 then
      redis.call('HDEL', KEYS[21], unpack(settled))
      redis.call('ZREM', KEYS[22], unpack(settled))
    end
  end
  keys_ended(L, ended)
  return out
end

-- Move up to n waiting jobs, chosen fairly (lanes_take), into the processing list and mark
-- them ACTIVE. `default` is the quota of keys without their own, `guard` the priority guard,
-- `quantum` the fair share's quantum (lanes_take).
-- Returns a state (TakeState), `now`, the ms until a lane held for its key's rate may start (0:
-- none is held so), then id1, record1, token1, id2, record2, token2, ...: TAKE_OK normally
-- (maybe no jobs), TAKE_PAUSED while the queue is paused, or the ms to wait while the global
-- rate limit (KEYS[9]) allows none (no jobs).
local function take_jobs(now, worker, n, rate, period, default, guard, quantum)
  if redis.call('EXISTS', KEYS[8]) == 1 then
    return {TAKE_PAUSED, now, 0}
  end
  n = math.min(n, waiting_count(L))
  if n == 0 then
    return {TAKE_OK, now, 0}
  end
  local allowed, wait = gcra_admit(KEYS[9], now, rate, period, n)
  if allowed == 0 then
    return {wait, now, 0}
  end
  local picked, counted = lanes_take(L, now, allowed, parse_quota(default), guard, quantum)
  local count = #picked / 2
  if count < allowed then
    -- Held lanes left starts unused: they were not starts.
    gcra_refund(KEYS[9], rate, period, allowed - count)
  end
  if count == 0 then
    return {TAKE_OK, now, next_due(L, now) or 0}
  end
  local ids = {}
  for i = 1, #picked, 2 do
    ids[#ids + 1] = picked[i]
  end
  redis.call('LPUSH', KEYS[1], unpack(ids))  -- the last started ends up at the head
  -- A processing list always has its worker registered, so the reaper finds it: a worker that
  -- was reaped (while frozen, say) and takes again is registered again, as if it had beaten
  -- (by Redis's clock, as every beat).
  register(KEYS[10], worker)
  local out, marks, ended = {TAKE_OK, now, 0}, {}, {}
  local fence = draw_fences(KEYS[5], count)
  for i = 1, #picked, 2 do
    local id, key = picked[i], picked[i + 1]
    fence = fence + 1
    local raw, token, fresh = mark_active(KEYS[6] .. id, KEYS[1], KEYS[7], id, worker, now, fence, key, counted[key], marks)
    if raw then
      out[#out + 1] = id
      out[#out + 1] = raw
      out[#out + 1] = token
    end
    if not fresh and counted[key] then
      -- Counted against its key's max_active by lanes_take, but no attempt began.
      ended[key] = (ended[key] or 0) + 1
    end
  end
  if #marks > 0 then
    redis.call('HSET', KEYS[7], unpack(marks))
  end
  keys_ended(L, ended)
  -- Work left behind: wake the next idle worker.
  if count == allowed and waiting_count(L) > 0 then
    wake_one(L)
  end
  return out
end
