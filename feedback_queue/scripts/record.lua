-- Shared prelude, prepended to every script at load time (see scripts/__init__.py).
-- The job record codec (layout documented in record.py) and the status numbers of
-- feedback_queue.v1.Status. Scripts build job keys as KEYS[job prefix] .. id: every job key of a
-- queue carries the queue's hash tag, so it lives in the same cluster slot as the prefix.
local WAITING, ACTIVE, DELAYED, COMPLETED, FAILED = 1, 2, 3, 4, 5
local REC_HEADER = '>BBHI6'
local REC_PLAIN, REC_WITH_EXTRAS = 16, 17

local function rec_decode(raw)
  local flags, status, attempts, enqueued, pos = struct.unpack(REC_HEADER, raw)
  local rec = {status = status, attempts = attempts, enqueued = enqueued, extra = {}}
  if flags == REC_WITH_EXTRAS then
    local size = struct.unpack('>I4', raw, #raw - 3)
    local extra_at = #raw - 3 - size
    rec.extra = cmsgpack.unpack(string.sub(raw, extra_at, #raw - 4))
    rec.payload = string.sub(raw, pos, extra_at - 1)
  else
    rec.payload = string.sub(raw, pos)
  end
  return rec
end

local function rec_encode(rec)
  if next(rec.extra) == nil then
    return struct.pack(REC_HEADER, REC_PLAIN, rec.status, rec.attempts, rec.enqueued) .. rec.payload
  end
  local extra = cmsgpack.pack(rec.extra)
  return struct.pack(REC_HEADER, REC_WITH_EXTRAS, rec.status, rec.attempts, rec.enqueued)
    .. rec.payload .. extra .. struct.pack('>I4', #extra)
end

-- Who runs an ACTIVE job, and since when, lives in the queue's `started` hash (id ->
-- "worker|ms"), not in the record: taking a job patches three header bytes in place (SETRANGE)
-- instead of decoding and rewriting the whole record. The attempt's end moves both into the
-- record (settle_started).

-- Mark a taken job ACTIVE for `worker`: one more attempt, started now. Returns the raw record,
-- or false when the job is gone or already COMPLETED (then it is dropped from `active`).
-- A replayed call (same worker, already ACTIVE) returns the record unchanged. With `marks`,
-- the started entry is appended there for one HSET of the whole batch: every write command a
-- script runs is also written to the AOF one by one, so fewer, wider commands are cheaper.
local function mark_active(job_key, active_key, started_key, id, worker, now, marks)
  local raw = redis.call('GET', job_key)
  if not raw then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  local flags, status, attempts = struct.unpack('>BBH', raw)
  if status == COMPLETED then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  if status == ACTIVE then
    local who = redis.call('HGET', started_key, id)
    if who and string.sub(who, 1, #worker + 1) == worker .. '|' then
      return raw
    end
  end
  local patch = struct.pack('>BH', ACTIVE, attempts + 1)
  redis.call('SETRANGE', job_key, 1, patch)
  local mark = worker .. '|' .. string.format('%.0f', now)
  if marks then
    marks[#marks + 1] = id
    marks[#marks + 1] = mark
  else
    redis.call('HSET', started_key, id, mark)
  end
  return string.char(flags) .. patch .. string.sub(raw, 5)
end

-- The attempt of `id` ends: its worker and start time go into the record's extras. With
-- `settled`, the id is appended there for one HDEL of the whole batch.
local function settle_started(rec, started_key, id, settled)
  local who = redis.call('HGET', started_key, id)
  if who then
    local sep = string.find(who, '|', 1, true)
    rec.extra.w = string.sub(who, 1, sep - 1)
    rec.extra.t = tonumber(string.sub(who, sep + 1))
    if settled then
      settled[#settled + 1] = id
    else
      redis.call('HDEL', started_key, id)
    end
  end
end

-- The global rate limiter (GCRA) over `key`: may `n` more jobs start now? Returns how many may
-- (counted as started) and, when none may, how many ms until one can. limit <= 0: no limit.
-- The key holds the theoretical arrival time; it has no TTL (a forgotten limit would let a burst
-- through), and stays a few bytes.
local function limiter_admit(key, now, limit, period, n)
  if limit <= 0 then
    return n, 0
  end
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or 0)
  if tat < now then tat = now end
  local allowed = math.min(n, math.floor((now + period - tat) / interval))
  if allowed <= 0 then
    return 0, math.max(math.ceil(tat + interval - period - now), 1)
  end
  redis.call('SET', key, string.format('%.3f', tat + allowed * interval))
  return allowed, 0
end

-- Completing and taking share one KEYS layout, so a worker can do both in one call
-- (ack_take.lua) as well as apart (ack.lua, take.lua):
--   KEYS[1] = waiting list      KEYS[2] = this worker's processing list   KEYS[3] = delayed zset
--   KEYS[4] = failed zset       KEYS[5] = completed index zset            KEYS[6] = stats hash
--   KEYS[7] = job key prefix    KEYS[8] = started hash   KEYS[9] = paused flag
--   KEYS[10] = rate limiter

-- Complete the jobs named in ARGV[first..] as id, result pairs: drop them from the processing
-- list, store the result, start retention. Returns how many became COMPLETED. Replay-safe: a
-- COMPLETED job is left as it is. A late ack from a worker that was reaped still completes the
-- job, and takes it out of waiting, delayed or failed, so it does not run again.
local function ack_jobs(now, retention, first)
  local done = 0
  local settled, index = {}, {}
  for i = first, #ARGV, 2 do
    local id, result = ARGV[i], ARGV[i + 1]
    local job_key = KEYS[7] .. id
    local head = redis.call('GETRANGE', job_key, 0, 3)
    local exists = #head == 4
    if redis.call('LREM', KEYS[2], 1, id) == 0 and exists then
      redis.call('LREM', KEYS[1], 1, id)
      redis.call('ZREM', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
    end
    local flags, status = 0, COMPLETED
    if exists then
      flags, status = struct.unpack('>BB', head)
    end
    if status ~= COMPLETED then
      if flags == REC_PLAIN then
        -- The common case, a first attempt: patch the header and append the extras, so the
        -- payload is neither copied here nor written to the AOF again.
        local rec = {extra = {}}
        settle_started(rec, KEYS[8], id, settled)
        rec.extra.f = now
        rec.extra.r = result
        local extra = cmsgpack.pack(rec.extra)
        redis.call('SETRANGE', job_key, 0, struct.pack('>BB', REC_WITH_EXTRAS, COMPLETED))
        redis.call('APPEND', job_key, extra .. struct.pack('>I4', #extra))
        redis.call('PEXPIRE', job_key, retention)
      else
        local rec = rec_decode(redis.call('GET', job_key))
        settle_started(rec, KEYS[8], id, settled)
        rec.status = COMPLETED
        rec.extra.f = now
        rec.extra.r = result
        rec.extra.d = nil
        redis.call('SET', job_key, rec_encode(rec), 'PX', retention)
      end
      index[#index + 1] = now
      index[#index + 1] = id
      done = done + 1
    end
  end
  if done > 0 then
    redis.call('ZADD', KEYS[5], unpack(index))
    redis.call('HINCRBY', KEYS[6], 'completed', done)
  end
  if #settled > 0 then
    redis.call('HDEL', KEYS[8], unpack(settled))
  end
  return done
end

-- Move up to n waiting jobs, oldest first, into the processing list and mark them ACTIVE.
-- Returns a state, then id1, record1, id2, record2, ...: state 0 normally (maybe no jobs),
-- -1 while the queue is paused, or the ms to wait while the rate limit allows none (no jobs).
local function take_jobs(now, worker, n, rate, period)
  if redis.call('EXISTS', KEYS[9]) == 1 then
    return {-1}
  end
  n = math.min(n, redis.call('LLEN', KEYS[1]))
  if n == 0 then
    return {0}
  end
  local allowed, wait = limiter_admit(KEYS[10], now, rate, period, n)
  if allowed == 0 then
    return {wait}
  end
  local ids = redis.call('LRANGE', KEYS[1], -allowed, -1)
  redis.call('LTRIM', KEYS[1], 0, -#ids - 1)
  local oldest_first = {}
  for i = #ids, 1, -1 do
    oldest_first[#oldest_first + 1] = ids[i]
  end
  redis.call('LPUSH', KEYS[2], unpack(oldest_first))  -- the newest ends up at the head
  local out, marks = {0}, {}
  for i = #ids, 1, -1 do
    local id = ids[i]
    local raw = mark_active(KEYS[7] .. id, KEYS[2], KEYS[8], id, worker, now, marks)
    if raw then
      out[#out + 1] = id
      out[#out + 1] = raw
    end
  end
  if #marks > 0 then
    redis.call('HSET', KEYS[8], unpack(marks))
  end
  return out
end
