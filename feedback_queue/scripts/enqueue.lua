-- Enqueue one or more jobs, each with its idempotency check, in one round trip.
-- uses: codec, clock, limiter, lanes
-- KEYS[1] = delayed zset        KEYS[2] = idem hash         KEYS[3] = idem-expiry zset
-- KEYS[4] = stats hash          KEYS[5] = job key prefix
-- KEYS[6] = submitter rate key prefix   KEYS[7] = principal rate key prefix
-- KEYS[8..17] = the lanes block (lib/lanes.lua)   KEYS[18] = cancelled index zset
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = idempotency TTL (ms)
-- ARGV[3] = waiting cap (0: none)
-- ARGV[4] = submissions per submitter per period (0: no limit)   ARGV[5] = that period (ms)
-- ARGV[6] = the jobs, one MessagePack array of arrays (one argument, not seven per job: the
-- client packs a batch in C instead of encoding thousands of arguments one by one), each:
-- id, payload, idempotency key ('' for none; already scoped to the owner), payload digest,
-- delay (ms, 0: none), submitter id, owner (the principal that submits it, '' for none), and
-- the W3C traceparent of the call that submits it ('' or absent: none; kept as extra `c`).
-- ARGV[7] = submissions per owner per period (0 or absent: no limit)   ARGV[8] = that period
-- The record is written here, stamped with Redis's clock: a job with a delay goes
-- into delayed, due at now + delay (DELAYED), any other to the back of its lane (WAITING):
-- the lane of its priority and fairness key, read from the payload (lib/submission.lua).
-- Returns 3 per job: id, status (0 when refused; for the two rate limits the ms to wait), outcome:
-- ENQ_CREATED, ENQ_DUPLICATE of an earlier id by idempotency key, ENQ_REPLAY of this very id,
-- ENQ_KEY_CONFLICT (key used with another payload), ENQ_ID_TAKEN (id taken by another payload),
-- ENQ_QUEUE_FULL, ENQ_RATE_LIMITED (submitter over its rate), ENQ_PRINCIPAL_LIMITED (owner
-- over its rate, whatever submitter ids it names; the status field is the ms to wait too).
-- The rates are gcra_admit's, per submitter and per owner key with a TTL; duplicates cost
-- nothing. The owner is kept in the record's extras (`o`).
-- An unexpired idempotency entry decides alone, whether or not the job's record is still
-- there: the same digest is ENQ_DUPLICATE (or ENQ_REPLAY) of its id, another ENQ_KEY_CONFLICT.
-- A record goes by itself only once COMPLETED or CANCELLED (its retention TTL, or eviction under
-- volatile-lru), so a duplicate whose record is gone answers CANCELLED when the cancelled index
-- still lists its id (kept as long as idempotency keys live, sweep.lua), else COMPLETED. A
-- cancelled submission's key is not freed: a client's retry of the Submit that raced an
-- admin's cancel must not bring the work back.
-- Replay-safe: ids are drawn by the caller, so a re-sent script finds its own job: ENQ_REPLAY.
local L = lanes_keys(8)
local now, idem_ttl, cap = now_ms(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate, period = tonumber(ARGV[4]), tonumber(ARGV[5])
local owner_rate, owner_period = tonumber(ARGV[7] or 0), tonumber(ARGV[8] or 0)
local waiting_len = waiting_count(L)
local out, tally = {}, {}

local function status_of(job_key)
  local raw = redis.call('GET', job_key)
  if not raw then return false end
  return rec_decode(raw).status
end

local created = 0
for _, job in ipairs(cmsgpack.unpack(ARGV[6])) do
  local id, payload, key, digest, delay, submitter, owner = job[1], job[2], job[3], job[4],
    tonumber(job[5]), job[6], job[7] or ''
  local trace = job[8] or ''
  local job_key = KEYS[5] .. id
  local outcome, status = nil, nil

  if key ~= '' then
    local seen = redis.call('HGET', KEYS[2], key)
    local expires = redis.call('ZSCORE', KEYS[3], key)
    if seen and expires and tonumber(expires) > now then
      local sep = string.find(seen, ':', 1, true)
      local old_id, old_digest = string.sub(seen, 1, sep - 1), string.sub(seen, sep + 1)
      -- The entry alone decides for its whole TTL, record or no record.
      if old_digest == digest then
        outcome, id = (old_id == id) and ENQ_REPLAY or ENQ_DUPLICATE, old_id
        status = status_of(KEYS[5] .. old_id)
          or (redis.call('ZSCORE', KEYS[18], old_id) and CANCELLED) or COMPLETED
      else
        outcome, status = ENQ_KEY_CONFLICT, 0
      end
    end
  end

  if outcome == nil then
    local existing = redis.call('GET', job_key)
    if existing then
      local rec = rec_decode(existing)
      if rec.payload == payload then
        outcome, status = ENQ_REPLAY, rec.status
      else
        outcome, status = ENQ_ID_TAKEN, 0
      end
    elseif delay <= 0 and cap > 0 and waiting_len >= cap then
      outcome, status = ENQ_QUEUE_FULL, 0
    end
    if outcome == nil and owner_rate > 0 and owner ~= '' then
      local allowed, wait = gcra_admit(KEYS[7] .. owner, now, owner_rate, owner_period, 1, true)
      if allowed == 0 then
        outcome, status = ENQ_PRINCIPAL_LIMITED, wait
      end
    end
    if outcome == nil and rate > 0 then
      local allowed, wait = gcra_admit(KEYS[6] .. submitter, now, rate, period, 1, true)
      if allowed == 0 then
        outcome, status = ENQ_RATE_LIMITED, wait
      end
    end
    if outcome == nil then
      -- The status is the one of the structure the id goes into: the reaper and the promoter
      -- trust it. Any positive delay is due after now, so the job starts DELAYED in delayed.
      local rec = {status = WAITING, attempts = 0, enqueued = now, payload = payload, extra = {}}
      if delay > 0 then
        rec.status, rec.extra.d = DELAYED, now + delay
      end
      if owner ~= '' then
        rec.extra.o = owner
      end
      if trace ~= '' then
        rec.extra.c = trace
      end
      status = rec.status
      redis.call('SET', job_key, rec_encode(rec))
      if status == DELAYED then
        redis.call('ZADD', KEYS[1], rec.extra.d, id)
      else
        push_payload(L, payload, id, false, tally)
        waiting_len = waiting_len + 1
      end
      if key ~= '' then
        redis.call('HSET', KEYS[2], key, id .. ':' .. digest)
        redis.call('ZADD', KEYS[3], now + idem_ttl, key)
      end
      created = created + 1
      outcome = ENQ_CREATED
    end
  end
  out[#out + 1] = id
  out[#out + 1] = status
  out[#out + 1] = outcome
end
lanes_flush(L, tally)
if created > 0 then
  redis.call('HINCRBY', KEYS[4], 'enqueued', created)
end
return out
