-- A housekeeping lease, so one worker of the fleet at a time sweeps and reaps.
-- KEYS[1] = lock key   ARGV[1] = owner   ARGV[2] = lease (ms); 0 releases the owner's lease
-- Returns LEASE_HELD when `owner` holds the lease now (taken or renewed), else LEASE_NOT_HELD.
-- The key is coordination, not data: if it is evicted or expires, two workers may housekeep at
-- once, which is harmless (every housekeeping script is atomic and idempotent).
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return LEASE_NOT_HELD
end
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
  return LEASE_NOT_HELD
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return LEASE_HELD
