-- Complete jobs: drop them from the processing list, store the result, start retention.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (processing list, ..., the lanes block)
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock, see lib/clock.lua)   ARGV[2] = retention (ms)   ARGV[3] = worker id
-- then 3 per job: id, the attempt's token, result
-- Returns one outcome per job (see ack_jobs): a stale token is refused and changes nothing.
return ack_jobs(now_ms(ARGV[1]), tonumber(ARGV[2]), ARGV[3], 4)
