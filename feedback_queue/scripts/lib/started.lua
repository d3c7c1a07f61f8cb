-- Library: who runs an ACTIVE job, and since when.
-- uses: codec
-- That lives in the queue's `started` hash (id -> "worker|ms"), not in the record: taking a job
-- patches three header bytes of the codec's layout in place (SETRANGE) instead of decoding and
-- rewriting the whole record. The attempt's end moves both into the record (settle_started).

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
