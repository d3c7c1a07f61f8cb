-- A live worker hands jobs of its own processing list back to the front of waiting: at shutdown
-- the ones it will not finish, or after a lost reply the ones it never received.
-- uses: codec
-- KEYS[1] = this worker's processing list   KEYS[2] = waiting list   KEYS[3] = job key prefix
-- KEYS[4] = started hash
-- ARGV[1] = mode: 'only' hands back the ids that follow, 'except' all but the ids that follow
-- ARGV[2..] = ids
-- Returns how many went back. The interrupted attempt is not counted against the job.
local listed = {}
for i = 2, #ARGV do listed[ARGV[i]] = true end
local back = 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if (ARGV[1] == 'only') == (listed[id] == true) then
    redis.call('LREM', KEYS[1], 1, id)
    local job_key = KEYS[3] .. id
    local raw = redis.call('GET', job_key)
    redis.call('HDEL', KEYS[4], id)
    if raw then
      local rec = rec_decode(raw)
      if rec.status ~= COMPLETED then
        if rec.status == ACTIVE then
          rec.status = WAITING
          rec.attempts = math.max(rec.attempts - 1, 0)
          redis.call('SET', job_key, rec_encode(rec))
        end
        redis.call('RPUSH', KEYS[2], id)
        back = back + 1
      end
    end
  end
end
return back
