-- Set or drop a fairness key's own quota (AdminService.SetKeyQuota, fbq quota). It takes effect
-- at the next start: the key's per-key rate starts afresh and its held lanes are ready again,
-- to be held again at once if the new quota says so.
-- uses: lanes
-- KEYS[1..10] = the lanes block
-- ARGV[1] = the fairness key   ARGV[2] = its quota ("weight rate max_active"), '' to drop it
-- Returns how many of the key's held lanes are ready again.
local L = lanes_keys(1)
local key, quota = ARGV[1], ARGV[2]
if quota == '' then
  redis.call('HDEL', L.quotas, key)
else
  redis.call('HSET', L.quotas, key, quota)
end
redis.call('DEL', L.rate .. key)
return unhold_key(L, key, false)
