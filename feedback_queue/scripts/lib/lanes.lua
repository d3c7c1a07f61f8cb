-- Library: waiting work, in one lane per (priority level, fairness key), and the fair choice
-- among the lanes: start-time fair queueing on a virtual clock per level, strict between
-- levels but for the guard, and the per-key quotas (weight, rate, max_active).
-- uses: submission, limiter
--
-- Every script that moves waiting work gets the lanes block of KEYS (keys.py `lanes_block`,
-- read by lanes_keys in the same order). A lane is a list, LPUSH in, RPOP out: its right end is
-- the head of the line. Its key is ready at its level (ready:<p>, scored by the virtual time
-- its next start is due) or held (until a time, for its rate, or HELD_CAP while the key is at
-- its max_active, also listed in `capped`).
-- Invariants (fbq check verifies them): a lane with ids is in exactly one of its level's ready
-- zset and held; an empty lane in neither (or, for a moment, in ready: its next turn drops it).
-- fair.waiting is the number of waiting ids and w<p> the share of level p; key-starts counts each
-- key's starts since it last had nothing waiting; key-busy counts the ACTIVE jobs of keys whose
-- starts count against a max_active (the started entries flagged so, lib/started.lua).
-- Per-key waiting and ACTIVE figures for people are counted when asked (queue/sharing.py): a
-- start writes no per-key count but its key's starts.
--
-- The fair choice: a key's next start is due at virtual time S; the ready key with the least S
-- starts next, and its S then grows by 1/weight. A key whose lane was empty enters at its
-- level's virtual time (the S of the last start there), so it starts next whatever the depth
-- of the others' backlogs, and a deep backlog earns nothing while it waits: over any busy
-- period each key with waiting work gets starts in proportion to its weight. A turn may run
-- ahead of the next key's by quantum - 1 (a key of weight w starts up to quantum x w in a row,
-- FBQ_FAIR_QUANTUM): one look at a key serves several of its jobs, as deficit round-robin's
-- quantum does.

-- A held lane's score while its key is at max_active (2^53 - 1: no time is that late).
local HELD_CAP = 9007199254740991
local LEVELS = 3

local function lanes_keys(first)
  return {
    lane = KEYS[first], ready = KEYS[first + 1], held = KEYS[first + 2],
    capped = KEYS[first + 3], fair = KEYS[first + 4], wake = KEYS[first + 5],
    quotas = KEYS[first + 6], starts = KEYS[first + 7], busy = KEYS[first + 8],
    rate = KEYS[first + 9],
  }
end

local function lane_name(L, level, key)
  return L.lane .. level .. ':' .. key
end

-- Leave a token for an idle worker (blocked in BLPOP on `wake`); one is enough: a worker that
-- takes and leaves work behind wakes the next (take_jobs).
local function wake_one(L)
  if redis.call('LLEN', L.wake) == 0 then
    redis.call('LPUSH', L.wake, '1')
  end
end

local function virtual_time(L, level)
  return redis.call('HGET', L.fair, 'v' .. level) or 0
end

-- Note `n` more (or fewer) waiting ids at `level` in `tally` (level -> n), for lanes_flush.
local function count_waiting(tally, level, n)
  tally[level] = (tally[level] or 0) + n
end

-- Put `id` in its key's lane at `level`: behind the key's waiting work, or with `front` first in
-- line (a job handed back, reaped or retried after backoff). `tally` counts the ids per level
-- for lanes_flush.
local function lane_push(L, level, key, id, front, tally)
  local len = redis.call(front and 'RPUSH' or 'LPUSH', lane_name(L, level, key), id)
  if len == 1 then
    redis.call('ZADD', L.ready .. level, virtual_time(L, level), key)
    wake_one(L)
  end
  count_waiting(tally, level, 1)
end

-- lane_push, to the lane the stored submission `payload` names.
local function push_payload(L, payload, id, front, tally)
  local level, key = lane_of(payload)
  lane_push(L, level, key, id, front, tally)
end

-- Take `id` out of lane (level, key): the whole lane is searched, or with `near` only from its
-- head (first in line) on, which finds an id near the head at once. True when it was there.
local function lane_drop(L, level, key, id, tally, near)
  local lane = lane_name(L, level, key)
  if redis.call('LREM', lane, near and -1 or 0, id) == 0 then
    return false
  end
  if redis.call('LLEN', lane) == 0 then
    redis.call('ZREM', L.ready .. level, key)
    redis.call('ZREM', L.held, level .. ':' .. key)
  end
  count_waiting(tally, level, -1)
  return true
end

-- Take `id` out of the lane the stored submission `payload` names (admin delete, cancel).
local function lane_remove(L, payload, id, tally)
  local level, key = lane_of(payload)
  return lane_drop(L, level, key, id, tally)
end

-- Add per_level[p] to fair.w<p> and `total` to fair.waiting.
local function add_waiting(L, per_level, total)
  for level = 1, LEVELS do
    if per_level[level] ~= 0 then
      redis.call('HINCRBY', L.fair, 'w' .. level, per_level[level])
    end
  end
  if total ~= 0 then
    redis.call('HINCRBY', L.fair, 'waiting', total)
  end
end

-- Write the waiting counts a script's pushes (+) and removals (-) changed (`tally`, from
-- count_waiting): per level (fair.w<p>) and in all (fair.waiting).
local function lanes_flush(L, tally)
  local per_level, total = {0, 0, 0}, 0
  for level, n in pairs(tally) do
    per_level[level] = per_level[level] + n
    total = total + n
  end
  add_waiting(L, per_level, total)
end

local function waiting_count(L)
  return tonumber(redis.call('HGET', L.fair, 'waiting') or 0)
end

-- A quota as stored ("weight rate max_active", fairness.py Quota.encode).
local function parse_quota(text)
  local w, r, m = string.match(text, '^(%S+) (%S+) (%S+)$')
  return {w = tonumber(w), r = tonumber(r), m = tonumber(m)}
end

local function hold(L, level, key, until_ms)
  redis.call('ZREM', L.ready .. level, key)
  redis.call('ZADD', L.held, until_ms, level .. ':' .. key)
  if until_ms == HELD_CAP then
    redis.call('SADD', L.capped, key)
  end
end

local function unhold(L, member)
  redis.call('ZREM', L.held, member)
  local level = tonumber(string.sub(member, 1, 1))
  redis.call('ZADD', L.ready .. level, virtual_time(L, level), string.sub(member, 3))
end

-- Lanes whose rate wait is over are ready again.
local function unhold_due(L, now)
  local due = redis.call('ZRANGEBYSCORE', L.held, '-inf', now, 'LIMIT', 0, 256)
  for _, member in ipairs(due) do
    unhold(L, member)
  end
end

-- Every held lane of `key` is ready again (its quota changed, or one of its starts ended while
-- it was at max_active); `only_capped`: only those held at max_active. Returns how many.
local function unhold_key(L, key, only_capped)
  if redis.call('SREM', L.capped, key) == 0 and only_capped then
    return 0
  end
  local woke = 0
  for level = 1, LEVELS do
    local member = level .. ':' .. key
    local score = redis.call('ZSCORE', L.held, member)
    if score and (not only_capped or tonumber(score) >= HELD_CAP) then
      unhold(L, member)
      woke = woke + 1
    end
  end
  if woke > 0 then
    wake_one(L)
  end
  return woke
end

-- The keys of table `t` (key -> anything), as a list.
local function keys_of(t)
  local out = {}
  for key in pairs(t) do
    out[#out + 1] = key
  end
  return out
end

-- Add `deltas` (key -> n) to the counts of hash `hash`, every key read and written at once (one
-- HMGET, one HSET: a take spans many keys). A count that falls to 0 or below is dropped.
local function add_counts(hash, deltas)
  local keys = keys_of(deltas)
  if #keys == 0 then
    return
  end
  local values = redis.call('HMGET', hash, unpack(keys))
  local set, gone = {}, {}
  for i, key in ipairs(keys) do
    local value = (tonumber(values[i]) or 0) + deltas[key]
    if value <= 0 then
      gone[#gone + 1] = key
    else
      set[#set + 1] = key
      set[#set + 1] = value
    end
  end
  if #set > 0 then redis.call('HSET', hash, unpack(set)) end
  if #gone > 0 then redis.call('HDEL', hash, unpack(gone)) end
end

-- Counted attempts ended (ack, fail, reap, release, ...): `ended` has how many per key, of the
-- attempts whose start counted against a max_active (count_end, lib/started.lua). A key below
-- its max_active again may start more.
local function keys_ended(L, ended)
  if next(ended) == nil then
    return
  end
  local negative = {}
  for key, n in pairs(ended) do negative[key] = -n end
  add_counts(L.busy, negative)
  for key in pairs(ended) do
    unhold_key(L, key, true)
  end
end

-- The levels in the order start number `c` looks at them: strict (high, normal, low), but once
-- every `guard` starts low goes first, and once normal, so neither starves under a busy level
-- above it. Also: how many starts in a row may follow this order.
local LOW_FIRST, NORMAL_FIRST, STRICT = {3, 2, 1}, {2, 1, 3}, {1, 2, 3}
local function level_order(c, guard)
  local slot, half = c % guard, math.floor(guard / 2)
  if slot == 0 then
    return LOW_FIRST, 1
  elseif slot == half then
    return NORMAL_FIRST, 1
  elseif slot < half then
    return STRICT, half - slot
  end
  return STRICT, guard - slot
end

-- Ms until the earliest lane held for its rate may start (false: none is).
local function next_due(L, now)
  local first = redis.call('ZRANGEBYSCORE', L.held, '-inf', '(' .. HELD_CAP, 'WITHSCORES', 'LIMIT', 0, 1)
  if first[2] then
    return math.max(math.ceil(tonumber(first[2]) - now), 1)
  end
  return false
end

-- One level's ready keys as a take sees them: the first `size` of ready:<level>, loaded once
-- (with their quotas), kept in turn order here (list[first..] are still to come) and written
-- back once (turns_flush). A key
-- whose next turn falls beyond the last one loaded (the horizon: keys not loaded may come
-- before it) leaves the local order and is only written back.
local function turns_load(L, level, size, default, quantum)
  -- A turn serves up to `quantum` of a key of weight 1: fewer keys than starts are needed.
  size = math.ceil(size / quantum) + 1
  local raw = redis.call('ZRANGE', L.ready .. level, 0, size - 1, 'WITHSCORES')
  local t = {list = {}, first = 1, moved = {}, gone = {}, quota = {}}
  local keys = {}
  for i = 1, #raw, 2 do
    t.list[#t.list + 1] = {raw[i], tonumber(raw[i + 1])}
    keys[#keys + 1] = raw[i]
  end
  if #keys == size then
    t.horizon = t.list[#t.list]
  end
  if #keys > 0 then
    local own = redis.call('HMGET', L.quotas, unpack(keys))
    for i, key in ipairs(keys) do
      t.quota[key] = own[i] and parse_quota(own[i]) or default
    end
  end
  return t
end

-- Does turn a = {key, S} come before turn b? (Redis's order: by score, then by member.)
local function before(a, b)
  return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1])
end

-- Put `key`'s next turn at virtual time S back in order (or only mark it for writing back).
local function turns_put(t, key, s)
  t.moved[key] = s
  local h = t.horizon
  if h and (h[2] < s or (h[2] == s and h[1] < key)) then
    return
  end
  local turn = {key, s}
  local lo, hi = t.first, #t.list + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(t.list[mid], turn) then lo = mid + 1 else hi = mid end
  end
  table.insert(t.list, lo, turn)
end

local function turns_flush(L, level, t)
  local adds, gone = {}, {}
  for key, s in pairs(t.moved) do
    adds[#adds + 1] = s
    adds[#adds + 1] = key
  end
  for key in pairs(t.gone) do
    gone[#gone + 1] = key
  end
  if #adds > 0 then redis.call('ZADD', L.ready .. level, unpack(adds)) end
  if #gone > 0 then redis.call('ZREM', L.ready .. level, unpack(gone)) end
end

-- Take up to `want` ids, fairly. Returns {id1, key1, id2, key2, ...} in start order, and the
-- keys whose starts count against their max_active (key -> true: their started entries must say
-- so, and key-busy has counted them); the waiting counts and the keys' starts are written.
-- `default` is the quota of keys without their own; `guard` the priority guard; `quantum` how
-- far a turn may run ahead (in starts at weight 1).
local function lanes_take(L, now, want, default, guard, quantum)
  local taken, per_key, counted, levels, count = {}, {}, {}, {0, 0, 0}, 0
  unhold_due(L, now)
  local state = redis.call('HMGET', L.fair, 'n', 'v1', 'v2', 'v3', 'w1', 'w2', 'w3')
  local c = tonumber(state[1]) or 0
  local v = {tonumber(state[2]) or 0, tonumber(state[3]) or 0, tonumber(state[4]) or 0}
  -- With work at one level only the guard has nobody to let first: no need to cut runs short.
  local busy_levels = 0
  for level = 1, LEVELS do
    if (tonumber(state[4 + level]) or 0) > 0 then busy_levels = busy_levels + 1 end
  end
  local turns = {}
  local looks = 0
  while count < want and looks < want + 64 do
    looks = looks + 1
    local order, run = level_order(c, guard)
    if busy_levels < 2 then
      run = want
    end
    local level, t
    for _, l in ipairs(order) do
      local seen = turns[l]
      if seen and seen.first > #seen.list and seen.horizon then
        -- Every key loaded was served past the horizon or held: there may be more beyond.
        turns_flush(L, l, seen)
        seen = nil
      end
      if not seen then
        seen = turns_load(L, l, want - count, default, quantum)
      end
      turns[l] = seen
      if turns[l].first <= #turns[l].list then
        level, t = l, turns[l]
        break
      end
    end
    if not level then break end
    local head = t.list[t.first]
    t.first = t.first + 1
    local key, tag = head[1], head[2]
    local after = t.list[t.first] or t.horizon
    local q = t.quota[key]
    -- As many as start in a row before another key's turn (its S comes first, give or take the
    -- quantum) or the guard's.
    local m = math.min(want - count, run)
    if after then
      m = math.min(m, math.floor((after[2] + quantum - 1 - tag) * q.w) + 1)
    end
    local until_ms = nil
    if q.m > 0 then
      counted[key] = true
      local busy = (tonumber(redis.call('HGET', L.busy, key)) or 0) + (per_key[key] or 0)
      if busy >= q.m then
        until_ms = HELD_CAP
      else
        m = math.min(m, q.m - busy)
      end
    end
    if not until_ms and q.r > 0 then
      -- At most r per second; below 1 per second, one at a time.
      local limit, period = q.r, 1000
      if q.r < 1 then limit, period = 1, 1000 / q.r end
      local allowed, wait = gcra_admit(L.rate .. key, now, limit, period, m, true)
      if allowed == 0 then
        until_ms = now + wait
      else
        m = allowed
      end
    end
    if until_ms then
      t.moved[key] = nil
      hold(L, level, key, until_ms)
    else
      local lane = lane_name(L, level, key)
      local ids = redis.call('RPOP', lane, m) or {}
      for _, id in ipairs(ids) do
        taken[#taken + 1] = id
        taken[#taken + 1] = key
      end
      count = count + #ids
      per_key[key] = (per_key[key] or 0) + #ids
      c = c + #ids
      if #ids > 0 then
        v[level] = tag + (#ids - 1) / q.w
        levels[level] = levels[level] - #ids
      end
      -- A lane that gave fewer than asked is empty; one that gave all it had shows so at its
      -- next turn (an empty lane may stay ready that long).
      if #ids < m then
        t.moved[key] = nil
        t.gone[key] = true
      else
        turns_put(t, key, tag + #ids / q.w)
      end
    end
  end
  for level, t in pairs(turns) do
    turns_flush(L, level, t)
  end
  if count > 0 then
    redis.call('HSET', L.fair, 'n', c, 'v1', v[1], 'v2', v[2], 'v3', v[3])
    add_counts(L.starts, per_key)
    local busy = {}
    for key in pairs(counted) do
      if per_key[key] and per_key[key] > 0 then busy[key] = per_key[key] end
    end
    add_counts(L.busy, busy)
    add_waiting(L, levels, -count)
  end
  return taken, counted
end
