-- Complete jobs: drop them from the processing list, store the result, start retention.
-- uses: consume
-- KEYS: the consuming layout of lib/consume.lua (waiting, processing list, ..., limiter)
-- ARGV[1] = now (ms)   ARGV[2] = retention (ms)   then 2 per job: id, result
-- Returns how many jobs became COMPLETED (see ack_jobs).
return ack_jobs(tonumber(ARGV[1]), tonumber(ARGV[2]), 3)
