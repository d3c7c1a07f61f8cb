-- A live worker hands jobs of its own processing list back, each first in line of its key: at
-- shutdown the ones it will not finish, or after a lost reply the ones it never received.
-- uses: codec, started, lanes
-- KEYS[1] = this worker's processing list   KEYS[2] = job key prefix   KEYS[3] = started hash
-- KEYS[4] = stats hash   KEYS[5..14] = the lanes block
-- ARGV[1] = mode   ARGV[2] = worker id
-- Mode 'only' hands back the jobs that follow as id, token pairs: fenced like ack and fail, a
-- job whose token no longer holds its attempt is not touched (its id only leaves this worker's
-- list, unless the worker holds the job again under a newer token) and `stale_outcomes` counts
-- it. Mode 'except' hands back every job of the list but the ids that follow (their tokens are
-- what the worker never received): the ones this worker holds, and the ones never started; an
-- id whose job another worker holds only leaves the list.
-- Returns how many went back. The interrupted attempt is not counted against the job.
local L = lanes_keys(5)
local worker = ARGV[2]
local tally, ended = {}, {}

-- `id` has left the processing list; back to its lane (true) if it is this worker's or never
-- started.
local function hand_back(id, who)
  if who and parse_started(who) ~= worker then
    return false
  end
  local job_key = KEYS[2] .. id
  local raw = redis.call('GET', job_key)
  if who then
    redis.call('HDEL', KEYS[3], id)
    count_end(ended, who)
  end
  if not raw then
    return false
  end
  local rec = rec_decode(raw)
  if rec.status == ACTIVE then
    rec.status = WAITING
    rec.attempts = math.max(rec.attempts - 1, 0)
    redis.call('SET', job_key, rec_encode(rec))
  elseif rec.status ~= WAITING then
    return false
  end
  push_payload(L, rec.payload, id, true, tally)
  return true
end

local back, stale = 0, 0
if ARGV[1] == 'only' then
  for i = 3, #ARGV, 2 do
    local id, token = ARGV[i], ARGV[i + 1]
    local who = redis.call('HGET', KEYS[3], id)
    if holds(who, token) then
      redis.call('LREM', KEYS[1], 1, id)
      if hand_back(id, who) then back = back + 1 end
    else
      if not (who and parse_started(who) == worker) then
        redis.call('LREM', KEYS[1], 1, id)
      end
      -- A job cancelled while it ran was revoked on purpose: not stale.
      if rec_status(KEYS[2] .. id) ~= CANCELLED then
        stale = stale + 1
      end
    end
  end
else
  local keep = {}
  for i = 3, #ARGV do keep[ARGV[i]] = true end
  for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    if not keep[id] then
      redis.call('LREM', KEYS[1], 1, id)
      if hand_back(id, redis.call('HGET', KEYS[3], id)) then back = back + 1 end
    end
  end
end
lanes_flush(L, tally)
keys_ended(L, ended)
if stale > 0 then redis.call('HINCRBY', KEYS[4], 'stale_outcomes', stale) end
return back
