-- Library: who runs an ACTIVE job, since when, and with which fence token.
-- uses: codec, clock
-- That lives in the queue's `started` hash (id -> "worker|ms|fence|key", key the job's fairness
-- key; "worker|ms|fence|key|1" when the start counts against the key's max_active, in key-busy,
-- which the attempt's end lowers; no key holds a '|', fairness.KEY_PATTERN), not in the
-- record: taking a job patches three header bytes of the codec's layout in place (SETRANGE)
-- instead of decoding and rewriting the whole record. The attempt's end moves worker and start
-- time into the record (settle_started) and drops the entry, and with it the attempt's token.
-- The fence is the attempt's token: a number drawn from the queue-wide counter `fence` of the
-- stats hash, which only ever grows (no retry, delete or reap resets it), so no two attempts of
-- any job ever share one and a stale token can never become valid again. Ack, fail and release
-- present it; an outcome whose token is not the entry's changes nothing (DESIGN.md §1.2).

-- Draw n fresh fence tokens from the counter: returns the number before the first of them.
local function draw_fences(stats_key, n)
  return redis.call('HINCRBY', stats_key, 'fence', n) - n
end

-- The parts of a started entry: worker, start ms, fence token (false for an entry written
-- before tokens existed: no token matches it, so its attempt ends only by the reaper), fairness
-- key (false for an entry written before lanes existed), and whether key-busy counts it.
local function parse_started(who)
  local a = string.find(who, '|', 1, true)
  local b = string.find(who, '|', a + 1, true)
  if not b then
    return string.sub(who, 1, a - 1), tonumber(string.sub(who, a + 1)), false, false, false
  end
  local c = string.find(who, '|', b + 1, true)
  local worker, since = string.sub(who, 1, a - 1), tonumber(string.sub(who, a + 1, b - 1))
  if not c then
    return worker, since, string.sub(who, b + 1), false, false
  end
  local d = string.find(who, '|', c + 1, true)
  if not d then
    return worker, since, string.sub(who, b + 1, c - 1), string.sub(who, c + 1), false
  end
  return worker, since, string.sub(who, b + 1, c - 1), string.sub(who, c + 1, d - 1), true
end

-- Count the end of the attempt that started entry `who` describes in `ended` (key -> n), for
-- keys_ended (lib/lanes.lua), when its start counted against its key's max_active.
local function count_end(ended, who)
  if who then
    local _, _, _, key, counted = parse_started(who)
    if counted then
      ended[key] = (ended[key] or 0) + 1
    end
  end
end

-- Was `report` (a progress report as progress.lua keeps it, "<token>|<ms>|<report>", or false)
-- made by the attempt that `token` names? Reports outlive their attempts (readers compare).
local function reported_by(report, token)
  return report and token and string.sub(report, 1, #token + 1) == token .. '|'
end

-- Does `who` (a started entry, or false) hold the attempt that `token` names?
local function holds(who, token)
  if not who then return false end
  local _, _, fence = parse_started(who)
  return fence ~= false and fence == token
end

-- Mark a taken job ACTIVE for `worker`: one more attempt, started now, fenced by `fence` (a
-- number from draw_fences), of fairness key `key` (`counted`: key-busy counts it). Returns the raw record, the
-- attempt's token and true, or false when the job is gone, COMPLETED or CANCELLED (then it is
-- dropped from `active`). A replayed call (same worker, already ACTIVE) returns the record
-- unchanged with the token already issued, and false: no new attempt began. With `marks`, the
-- started entry is appended there for one HSET of the whole batch: every write command a
-- script runs is also written to the AOF one by one, so fewer, wider commands are cheaper.
local function mark_active(job_key, active_key, started_key, id, worker, now, fence, key, counted, marks)
  local raw = redis.call('GET', job_key)
  if not raw then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  local flags, status, attempts = struct.unpack('>BBH', raw)
  if status == COMPLETED or status == CANCELLED then
    redis.call('LREM', active_key, 1, id)
    return false
  end
  if status == ACTIVE then
    local who = redis.call('HGET', started_key, id)
    if who and string.sub(who, 1, #worker + 1) == worker .. '|' then
      local _, _, token = parse_started(who)
      if token then
        return raw, token, false
      end
    end
  end
  local patch = struct.pack('>BH', ACTIVE, attempts + 1)
  redis.call('SETRANGE', job_key, 1, patch)
  local token = string.format('%.0f', fence)
  local mark = worker .. '|' .. string.format('%.0f', now) .. '|' .. token .. '|' .. key
  if counted then
    mark = mark .. '|1'
  end
  if marks then
    marks[#marks + 1] = id
    marks[#marks + 1] = mark
  else
    redis.call('HSET', started_key, id, mark)
  end
  return string.char(flags) .. patch .. string.sub(raw, 5), token, true
end

-- The attempt of `id` ends: its worker and start time go into the record's extras, and its
-- end is counted in `ended` (count_end). `who` is its started entry when the caller has read it
-- already (false: there is none). With `settled`, the id is appended there for one HDEL of the
-- whole batch.
local function settle_started(rec, started_key, id, settled, who, ended)
  if who == nil then
    who = redis.call('HGET', started_key, id)
  end
  count_end(ended, who)
  if who then
    local worker, since = parse_started(who)
    rec.extra.w = worker
    rec.extra.t = since
    if settled then
      settled[#settled + 1] = id
    else
      redis.call('HDEL', started_key, id)
    end
  end
end

-- Register `worker` in the workers zset when it is not there (the reaper removed it): it holds
-- an attempt now, so its processing list must be one the reaper finds. Stamped, as every beat,
-- by Redis's clock.
local function register(workers_key, worker)
  if not redis.call('ZSCORE', workers_key, worker) then
    redis.call('ZADD', workers_key, redis_ms(), worker)
  end
end
