-- Set or drop a fairness key's own quota (AdminService.SetKeyQuota, fbq quota). It takes effect
-- at the next start: the key's per-key rate starts afresh and its held lanes are ready again,
-- to be held again at once if the new quota says so.
-- uses: started, lanes
-- KEYS[1..10] = the lanes block   KEYS[11] = started hash
-- ARGV[1] = the fairness key
-- ARGV[2] = the change ("weight rate max_active", each '-' to keep the key's current value),
-- or '' to drop the key's own quota
-- ARGV[3] = the default quota, what a key without its own has now
-- Returns the key's quota now ('' when it has none of its own), and how many of its held lanes
-- are ready again. Read, merged and written in one step: two changes at once lose neither.
-- A quota in force with a max_active counts the key's ACTIVE jobs (key-busy): the ones running
-- now are counted here, their started entries flagged so that their ends lower the count.
local L = lanes_keys(1)
local key, change = ARGV[1], ARGV[2]
local quota = ''
if change == '' then
  redis.call('HDEL', L.quotas, key)
else
  local current = {}
  for part in string.gmatch(redis.call('HGET', L.quotas, key) or ARGV[3], '%S+') do
    current[#current + 1] = part
  end
  local merged, i = {}, 0
  for part in string.gmatch(change, '%S+') do
    i = i + 1
    merged[i] = part == '-' and current[i] or part
  end
  quota = table.concat(merged, ' ')
  redis.call('HSET', L.quotas, key, quota)
end
redis.call('DEL', L.rate .. key)
local in_force = quota ~= '' and quota or ARGV[3]
if parse_quota(in_force).m > 0 then
  local entries = redis.call('HGETALL', KEYS[11])
  local n, flags = 0, {}
  for i = 1, #entries, 2 do
    local who = entries[i + 1]
    local _, _, _, of, counted = parse_started(who)
    if of == key then
      n = n + 1
      if not counted then
        flags[#flags + 1] = entries[i]
        flags[#flags + 1] = who .. '|1'
      end
    end
  end
  if #flags > 0 then redis.call('HSET', KEYS[11], unpack(flags)) end
  if n > 0 then
    redis.call('HSET', L.busy, key, n)
  else
    redis.call('HDEL', L.busy, key)
  end
end
return {quota, unhold_key(L, key, false)}
