-- Admin delete of a job that is not ACTIVE, from wherever it is.
-- uses: codec, started, lanes
-- KEYS[1] = delayed zset   KEYS[2] = failed zset   KEYS[3] = completed index zset
-- KEYS[4] = stats hash   KEYS[5] = job key prefix   KEYS[6] = started hash
-- KEYS[7..16] = the lanes block   KEYS[17] = cancelled index zset
-- ARGV[1] = id
-- Returns DEL_DELETED, DEL_NOT_FOUND, or DEL_ACTIVE (nothing changes: let the worker finish).
local L = lanes_keys(7)
local id = ARGV[1]
local job_key = KEYS[5] .. id
local raw = redis.call('GET', job_key)
if not raw then
  return DEL_NOT_FOUND
end
local rec = rec_decode(raw)
if rec.status == ACTIVE then
  return DEL_ACTIVE
end
local tally, ended = {}, {}
lane_remove(L, rec.payload, id, tally)
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[17], id)
redis.call('DEL', job_key)
-- A started entry of a job that is not ACTIVE names no attempt, but it was counted.
count_end(ended, redis.call('HGET', KEYS[6], id))
redis.call('HDEL', KEYS[6], id)
lanes_flush(L, tally)
keys_ended(L, ended)
redis.call('HINCRBY', KEYS[4], 'deleted', 1)
return DEL_DELETED
