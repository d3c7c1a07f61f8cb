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

-- Mark a taken job ACTIVE for `worker`: one more attempt, started now. Returns the new raw
-- record, or false when the job is gone or already COMPLETED (then it is dropped from `active`).
-- A replayed call (same worker, already ACTIVE) returns the record unchanged.
local function mark_active(job_key, active_key, id, worker, now)
  local raw = redis.call('GET', job_key)
  if not raw then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  local rec = rec_decode(raw)
  if rec.status == COMPLETED then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  if rec.status == ACTIVE and rec.extra.w == worker then
    return raw
  end
  rec.status = ACTIVE
  rec.attempts = rec.attempts + 1
  rec.extra.w = worker
  rec.extra.t = now
  rec.extra.d = nil
  raw = rec_encode(rec)
  redis.call('SET', job_key, raw)
  return raw
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
