-- Cancel jobs by id (CancelSubmission), wherever they are (lib/cancelling.lua).
-- uses: codec, clock, started, lanes, cancelling
-- KEYS[1] = delayed zset   KEYS[2] = cancelled index   KEYS[3] = stats hash
-- KEYS[4] = job key prefix   KEYS[5] = started hash   KEYS[6] = processing list prefix
-- KEYS[7..16] = the lanes block
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = retention (ms)
-- ARGV[3] = who cancels (kept in the record)   ARGV[4..] = ids
-- Returns 2 per id: CANCEL_CANCELLED, CANCEL_ALREADY (a replay: nothing changed), CANCEL_FINAL
-- (COMPLETED or FAILED: nothing changed) or CANCEL_NOT_FOUND; and its status now (0: none).
local C = cancelling_keys(1)
local now, retention, by = now_ms(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out, tally, ended, cancelled = {}, {}, {}, 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('GET', C.jobs .. id)
  if not raw then
    out[#out + 1] = CANCEL_NOT_FOUND
    out[#out + 1] = 0
  else
    local rec = rec_decode(raw)
    local outcome = cancel_job(C, id, rec, now, retention, by, tally, ended)
    if outcome == CANCEL_CANCELLED then
      cancelled = cancelled + 1
    end
    out[#out + 1] = outcome
    out[#out + 1] = rec.status
  end
end
cancels_flush(C, tally, ended, cancelled)
return out
