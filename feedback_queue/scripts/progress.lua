-- Progress reports of running attempts, a worker's batch of them: each is kept as the job's
-- latest report, and renews the attempt's own lease (reap.lua keeps an attempt whose lease is
-- fresh, even when its worker's beats stopped). Fenced like ack and fail: only the attempt that
-- holds the job may report, so a stale attempt (reaped, retried, cancelled) renews nothing and
-- overwrites nothing.
-- uses: codec, clock, started
-- KEYS[1] = started hash   KEYS[2] = job key prefix   KEYS[3] = progress hash
-- KEYS[4] = leases zset
-- ARGV[1] = the least time between two accepted reports of one job (ms): a chatty processor,
-- or a writer that ignores the worker's own pacing, cannot flood Redis
-- then 3 per report: id, the attempt's token, the report (MessagePack, from the worker)
-- Returns one outcome per report: PROG_OK, PROG_THROTTLED (too soon: nothing changed),
-- PROG_LOST (the attempt no longer holds the job) or PROG_CANCELLED (the job was cancelled).
-- The progress hash keeps id -> "<token>|<ms>|<report>", the leases zset id -> ms (Redis time);
-- both outlive the attempt until the sweep drops leases older than the grace: readers compare
-- the token with the running attempt's (queue/steering.py, reap.lua).
local now, gap = redis_ms(), tonumber(ARGV[1])
local out, kept, leased = {}, {}, {}
for i = 2, #ARGV, 3 do
  local id, token, report = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if not holds(redis.call('HGET', KEYS[1], id), token) then
    out[#out + 1] = rec_status(KEYS[2] .. id) == CANCELLED and PROG_CANCELLED or PROG_LOST
  else
    -- Too soon after this attempt's own last report (another attempt's does not count).
    local last = redis.call('ZSCORE', KEYS[4], id)
    local soon = last and now - tonumber(last) < gap
    if soon and reported_by(redis.call('HGET', KEYS[3], id), token) then
      out[#out + 1] = PROG_THROTTLED
    else
      kept[#kept + 1] = id
      kept[#kept + 1] = token .. '|' .. string.format('%.0f', now) .. '|' .. report
      leased[#leased + 1] = now
      leased[#leased + 1] = id
      out[#out + 1] = PROG_OK
    end
  end
end
if #kept > 0 then
  redis.call('HSET', KEYS[3], unpack(kept))
  redis.call('ZADD', KEYS[4], unpack(leased))
end
return out
