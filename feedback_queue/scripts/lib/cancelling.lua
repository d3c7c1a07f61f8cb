-- Library: cancelling a job wherever it is, for cancel.lua (by id) and cancel_where.lua (by
-- filter). WAITING leaves its lane and DELAYED the delayed zset. ACTIVE is revoked at once: its
-- started entry goes, and with it the attempt's token, so whatever the worker still sends for
-- that attempt (ack, fail, hand-back) changes nothing, and its key's max_active slot is free;
-- the id leaves the worker's processing list, so no reaper runs it again. The worker learns of
-- it by held.lua and stops the processor. A CANCELLED record is kept for the retention period
-- and listed in the cancelled index, which idempotency keys also read (enqueue.lua).
-- uses: codec, started, lanes
-- C = {delayed, cancelled, stats, jobs (job key prefix), started, active (processing list
-- prefix), L (lanes_keys)}

local function cancelling_keys(first)
  return {
    delayed = KEYS[first], cancelled = KEYS[first + 1], stats = KEYS[first + 2],
    jobs = KEYS[first + 3], started = KEYS[first + 4], active = KEYS[first + 5],
    L = lanes_keys(first + 6),
  }
end

-- Cancel job `id`, whose decoded record is `rec`, on behalf of `by`. With `out_of_lane`, a
-- WAITING job has left its lane already. `tally` and `ended` gather the waiting and key-busy
-- changes for lanes_flush and keys_ended. Returns CANCEL_CANCELLED, CANCEL_ALREADY or
-- CANCEL_FINAL (COMPLETED or FAILED: nothing changed).
local function cancel_job(C, id, rec, now, retention, by, tally, ended, out_of_lane)
  if rec.status == CANCELLED then
    return CANCEL_ALREADY
  elseif rec.status == COMPLETED or rec.status == FAILED then
    return CANCEL_FINAL
  elseif rec.status == WAITING then
    if not out_of_lane then
      lane_remove(C.L, rec.payload, id, tally)
    end
  elseif rec.status == DELAYED then
    redis.call('ZREM', C.delayed, id)
    rec.extra.d = nil
  elseif rec.status == ACTIVE then
    local who = redis.call('HGET', C.started, id)
    if who then
      redis.call('LREM', C.active .. parse_started(who), 1, id)
    end
    settle_started(rec, C.started, id, nil, who, ended)
  end
  local why = 'cancelled by ' .. by
  if rec.extra.x then
    why = why .. '; the last failed attempt said: ' .. rec.extra.x
  end
  rec.status = CANCELLED
  rec.extra.f = now
  rec.extra.x = why
  redis.call('SET', C.jobs .. id, rec_encode(rec), 'PX', retention)
  redis.call('ZADD', C.cancelled, now, id)
  return CANCEL_CANCELLED
end

-- After cancel_job calls: write the counts they changed, and count the cancels.
local function cancels_flush(C, tally, ended, cancelled)
  lanes_flush(C.L, tally)
  keys_ended(C.L, ended)
  if cancelled > 0 then
    redis.call('HINCRBY', C.stats, 'cancelled', cancelled)
  end
end
