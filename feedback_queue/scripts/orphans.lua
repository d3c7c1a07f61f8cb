-- The processing lists nobody will reap: those of workers the reaper took for dead (reaped)
-- that are not registered again yet hold ids. A worker that was only frozen may wake and BLMOVE
-- a job, then die before its start script registers it (taking and beating register a worker;
-- BLMOVE cannot). Every other worker is registered before its first BLMOVE (worker.py).
-- uses: clock
-- KEYS[1] = workers zset   KEYS[2] = reaped zset   KEYS[3] = processing list prefix
-- ARGV[1] = how long a reaped worker's list is watched (ms)
-- Returns those workers; the caller reaps each (reap.lua re-checks that it is still silent).
-- Watching ends after ARGV[1]: a worker frozen longer than that is long past its liveness
-- probe, which restarts it.
local now = redis_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now - tonumber(ARGV[1])))
local found = {}
for _, worker in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if not redis.call('ZSCORE', KEYS[1], worker)
      and redis.call('LLEN', KEYS[3] .. worker) > 0 then
    found[#found + 1] = worker
  end
end
return found
