-- Put the lanes' bookkeeping right (fbq check --repair): list every lane with work as ready
-- (unless it is held), drop ready and held entries of empty lanes, and count again what the
-- counters count. Atomic, so it counts what is there as it runs.
-- uses: started, lanes
-- KEYS[1..10] = the lanes block   KEYS[11] = started hash
-- ARGV = lane names the caller found (SCAN); the lanes listed as ready or held are looked at
-- too, so a lane made after the caller's SCAN (always listed when made) is counted.
-- Returns how many entries or counters it changed.
local L = lanes_keys(1)
local changed = 0
local lanes, seen = {}, {}
local function note(level, key)
  local at = level .. ':' .. key
  if not seen[at] then
    seen[at] = true
    lanes[#lanes + 1] = {level, key}
  end
end
for _, name in ipairs(ARGV) do
  local rest = string.sub(name, #L.lane + 1)
  note(tonumber(string.sub(rest, 1, 1)), string.sub(rest, 3))
end
for level = 1, LEVELS do
  for _, key in ipairs(redis.call('ZRANGE', L.ready .. level, 0, -1)) do note(level, key) end
end
for _, member in ipairs(redis.call('ZRANGE', L.held, 0, -1)) do
  note(tonumber(string.sub(member, 1, 1)), string.sub(member, 3))
end

local per_level, total = {0, 0, 0}, 0
for _, lane in ipairs(lanes) do
  local level, key = lane[1], lane[2]
  local size = redis.call('LLEN', lane_name(L, level, key))
  local ready = redis.call('ZSCORE', L.ready .. level, key)
  local held = redis.call('ZSCORE', L.held, level .. ':' .. key)
  if size > 0 then
    per_level[level] = per_level[level] + size
    total = total + size
    if ready and held then
      redis.call('ZREM', L.held, level .. ':' .. key)
      changed = changed + 1
    elseif not ready and not held then
      redis.call('ZADD', L.ready .. level, virtual_time(L, level), key)
      changed = changed + 1
    end
  else
    if ready then
      redis.call('ZREM', L.ready .. level, key)
      changed = changed + 1
    end
    if held then
      redis.call('ZREM', L.held, level .. ':' .. key)
      changed = changed + 1
    end
  end
end

local function set_count(field, value)
  if tonumber(redis.call('HGET', L.fair, field) or 0) ~= value then
    redis.call('HSET', L.fair, field, value)
    changed = changed + 1
  end
end
set_count('waiting', total)
for level = 1, LEVELS do set_count('w' .. level, per_level[level]) end

-- key-busy: the ACTIVE count of each key from the started entries that count against it.
local busy = {}
for _, who in ipairs(redis.call('HVALS', KEYS[11])) do
  count_end(busy, who)
end
local counted = redis.call('HGETALL', L.busy)
for i = 1, #counted, 2 do
  local key, n = counted[i], tonumber(counted[i + 1])
  if busy[key] ~= n then
    changed = changed + 1
    if busy[key] then
      redis.call('HSET', L.busy, key, busy[key])
    else
      redis.call('HDEL', L.busy, key)
    end
  end
  busy[key] = nil
end
for key, n in pairs(busy) do
  redis.call('HSET', L.busy, key, n)
  changed = changed + 1
end
return changed
