-- Move up to N waiting jobs, chosen fairly, into a worker's processing list and mark them ACTIVE.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (processing list, ..., the lanes block)
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = worker id   ARGV[3] = N
-- ARGV[4] = global rate: jobs per period (0: no limit)   ARGV[5] = that period (ms)
-- ARGV[6] = the default quota ("weight rate max_active")   ARGV[7] = the priority guard
-- ARGV[8] = the fair share's quantum
-- Returns a state, the time taken at (ms), a held lane's wait (ms), then id1, record1, token1,
-- ... (see take_jobs).
return take_jobs(now_ms(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
