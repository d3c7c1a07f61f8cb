-- Move up to N waiting jobs, oldest first, into a worker's processing list and mark them ACTIVE.
-- The backlog path of reserve: one round trip for many jobs.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (waiting, processing list, ..., limiter)
-- ARGV[1] = now (ms)   ARGV[2] = worker id   ARGV[3] = N
-- ARGV[4] = global rate: jobs per period (0: no limit)   ARGV[5] = that period (ms)
-- Returns a state, then id1, record1, id2, record2, ... (see take_jobs).
return take_jobs(tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]))
