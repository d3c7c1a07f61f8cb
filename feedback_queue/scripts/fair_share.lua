-- Who waits most: the fairness keys with the most waiting work, and the quotas.
-- uses: lanes
-- KEYS[1..10] = the lanes block
-- ARGV[1] = how many keys to list   ARGV[2] = at most this many own quotas
-- Returns keys with waiting work, waiting, active, starts (every start since the queue began),
-- waiting at levels high, normal, low, the number of keys listed, then per key: key, waiting,
-- active, starts since it last had no work, own quota ('' for none); then own quotas as key,
-- quota pairs (all of them when at most ARGV[2], else the first ARGV[2] a scan finds).
local L = lanes_keys(1)
local top, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local fair = redis.call('HMGET', L.fair, 'waiting', 'n', 'w1', 'w2', 'w3')
local active = 0
for _, value in ipairs(redis.call('HVALS', L.active)) do
  active = active + busy_parts(value)
end
local listed = redis.call('ZREVRANGE', L.waiting, 0, top - 1, 'WITHSCORES')
local out = {
  redis.call('ZCARD', L.waiting), tonumber(fair[1] or 0), active, tonumber(fair[2] or 0),
  tonumber(fair[3] or 0), tonumber(fair[4] or 0), tonumber(fair[5] or 0), #listed / 2,
}
for i = 1, #listed, 2 do
  local key = listed[i]
  out[#out + 1] = key
  out[#out + 1] = tonumber(listed[i + 1])
  local busy, starts = busy_parts(redis.call('HGET', L.active, key))
  out[#out + 1] = busy
  out[#out + 1] = starts
  out[#out + 1] = redis.call('HGET', L.quotas, key) or ''
end
local quotas
if redis.call('HLEN', L.quotas) <= most then
  quotas = redis.call('HGETALL', L.quotas)
else
  quotas = redis.call('HSCAN', L.quotas, 0, 'COUNT', most)[2]
end
for i = 1, math.min(#quotas, 2 * most) do
  out[#out + 1] = quotas[i]
end
return out
