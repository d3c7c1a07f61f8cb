-- Library: the job record codec, the Lua half of feedback_queue/record.py (layout documented
-- there; tests/test_record.py keeps the two in step). Scripts build job keys as
-- KEYS[job prefix] .. id: every job key of a queue carries the queue's hash tag, so it lives in
-- the same cluster slot as the prefix. Status names (WAITING .. CANCELLED) come from the generated
-- constants (feedback_queue.job.Status).
local REC_HEADER = '>BBHI6'
-- Format bytes: record.py's _PLAIN (VERSION << 4) and _WITH_EXTRAS; change both together.
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

-- The status of the record at `job_key`, read from its header alone (false: no record).
local function rec_status(job_key)
  local head = redis.call('GETRANGE', job_key, 0, 1)
  return #head == 2 and string.byte(head, 2)
end

local function rec_encode(rec)
  if next(rec.extra) == nil then
    return struct.pack(REC_HEADER, REC_PLAIN, rec.status, rec.attempts, rec.enqueued) .. rec.payload
  end
  local extra = cmsgpack.pack(rec.extra)
  return struct.pack(REC_HEADER, REC_WITH_EXTRAS, rec.status, rec.attempts, rec.enqueued)
    .. rec.payload .. extra .. struct.pack('>I4', #extra)
end
