-- Add a worker's batch of histogram counts to the queue's timing hash (feedback_queue/timing.py).
-- KEYS[1] = timing hash   KEYS[2] = this worker's batch number (a string with a TTL)
-- ARGV[1] = the batch's number (each batch of a worker one more)   ARGV[2] = that key's TTL (s)
-- then field, increment pairs: a bucket's count (`...|<n>`) or a sum of seconds (`...|sum`)
-- Returns TIMED_ADDED, or TIMED_REPLAY for a batch no newer than the last one added (sent again
-- after its reply was lost): nothing is counted twice.
local batch = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[2]) or 0)
if batch <= last then
  return TIMED_REPLAY
end
for i = 3, #ARGV, 2 do
  local name, by = ARGV[i], ARGV[i + 1]
  if string.sub(name, -4) == '|sum' then
    redis.call('HINCRBYFLOAT', KEYS[1], name, by)
  else
    redis.call('HINCRBY', KEYS[1], name, by)
  end
end
redis.call('SET', KEYS[2], batch, 'EX', tonumber(ARGV[2]))
return TIMED_ADDED
