-- Admin delete of a job that is not ACTIVE, from wherever it is.
-- uses: codec
-- KEYS[1] = waiting list   KEYS[2] = delayed zset   KEYS[3] = failed zset
-- KEYS[4] = completed index zset   KEYS[5] = stats hash   KEYS[6] = job key prefix
-- KEYS[7] = started hash
-- ARGV[1] = id
-- Returns DEL_DELETED, DEL_NOT_FOUND, or DEL_ACTIVE (nothing changes: let the worker finish).
local id = ARGV[1]
local job_key = KEYS[6] .. id
local raw = redis.call('GET', job_key)
if not raw then
  return DEL_NOT_FOUND
end
if rec_decode(raw).status == ACTIVE then
  return DEL_ACTIVE
end
redis.call('LREM', KEYS[1], 0, id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('DEL', job_key)
redis.call('HDEL', KEYS[7], id)
redis.call('HINCRBY', KEYS[5], 'deleted', 1)
return DEL_DELETED
