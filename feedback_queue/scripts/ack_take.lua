-- Complete some jobs and take their successors in one round trip: the busy worker's cycle.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (processing list, ..., the lanes block)
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = retention (ms)
-- ARGV[3] = worker id   ARGV[4] = N to take
-- ARGV[5] = global rate: jobs per period (0: no limit)   ARGV[6] = that period (ms)
-- ARGV[7] = the default quota ("weight rate max_active")   ARGV[8] = the priority guard
-- ARGV[9] = the fair share's quantum
-- then 3 per completed job: id, the attempt's token, result
-- Returns the list of ack outcomes (see ack_jobs), then what take_jobs returns.
local now = now_ms(ARGV[1])
local acked = ack_jobs(now, tonumber(ARGV[2]), ARGV[3], 10)
local taken = take_jobs(now, ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
  ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]))
table.insert(taken, 1, acked)
return taken
