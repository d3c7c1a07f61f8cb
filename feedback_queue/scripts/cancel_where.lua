-- Cancel the WAITING or DELAYED jobs a filter matches, one window of one place per call (a
-- lane, or the delayed zset); the caller (Steering.cancel_where) walks every place it must, a
-- window at a time, until a window comes back short.
-- uses: codec, clock, submission, started, lanes, cancelling
-- KEYS[1..16] as cancel.lua
-- ARGV[1] = a test's fixed now (ms; 0: Redis's clock)   ARGV[2] = retention (ms)
-- ARGV[3] = who cancels   ARGV[4] = 'lane' or 'delayed'
-- ARGV[5], ARGV[6] = the lane's level and fairness key ('lane')
-- ARGV[7] = offset: how many of the place to skip, counted from the head of a lane (first in
-- line) or the soonest of delayed   ARGV[8] = window: how many to look at
-- ARGV[9] = submitter id to match ('' any)   ARGV[10] = fairness key to match ('' any)
-- ARGV[11] = '1' for a dry run: count the matches, change nothing
-- Returns how many matched (and, unless a dry run, were cancelled), the offset of the next
-- window (the matches cancelled here no longer take room ahead of it), and how many ids the
-- window held (short of ARGV[8]: the place is done).
-- Replay-safe: a cancelled id is no longer in the place.
local C = cancelling_keys(1)
local now, retention, by, place = now_ms(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local offset, window = tonumber(ARGV[7]), tonumber(ARGV[8])
local submitter, key, dry = ARGV[9], ARGV[10], ARGV[11] == '1'
local tally, ended = {}, {}
local lane_level, lane_key = tonumber(ARGV[5]), ARGV[6]
local ids
if place == 'lane' then
  -- The head of a lane is its right end: the window, head first.
  local lane = lane_name(C.L, lane_level, lane_key)
  ids = redis.call('LRANGE', lane, -(offset + window), -(offset + 1))
  local reversed = {}
  for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
  ids = reversed
else
  ids = redis.call('ZRANGE', C.delayed, offset, offset + window - 1)
end
local matched = 0
local wanted = place == 'lane' and WAITING or DELAYED
for _, id in ipairs(ids) do
  local raw = redis.call('GET', C.jobs .. id)
  local rec = raw and rec_decode(raw)
  if rec and rec.status == wanted then
    local _, own_key, own_submitter = lane_of(rec.payload)
    if (submitter == '' or submitter == own_submitter) and (key == '' or key == own_key) then
      matched = matched + 1
      if not dry then
        if place == 'lane' then
          lane_drop(C.L, lane_level, lane_key, id, tally, true)
        end
        cancel_job(C, id, rec, now, retention, by, tally, ended, true)
      end
    end
  end
end
cancels_flush(C, tally, ended, dry and 0 or matched)
return {matched, offset + #ids - (dry and 0 or matched), #ids}
