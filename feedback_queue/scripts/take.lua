-- Move up to N waiting jobs, oldest first, into a worker's processing list and mark them ACTIVE.
-- The backlog path of reserve: one round trip for many jobs.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (waiting, processing list, ..., limiter)
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = worker id   ARGV[3] = N
-- ARGV[4] = global rate: jobs per period (0: no limit)   ARGV[5] = that period (ms)
-- Returns a state, the time taken at (ms), then id1, record1, token1, ... (see take_jobs).
return take_jobs(now_ms(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]))
