-- A housekeeping lease, so one worker of the fleet at a time sweeps and reaps.
-- KEYS[1] = lock key   ARGV[1] = owner   ARGV[2] = lease (ms); 0 releases the owner's lease
-- Returns 1 when `owner` holds the lease now (taken or renewed), else 0.
-- The key is coordination, not data: if it is evicted or expires, two workers may housekeep at
-- once, which is harmless (every housekeeping script is atomic and idempotent).
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
