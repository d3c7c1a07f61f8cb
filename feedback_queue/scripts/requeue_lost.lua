-- Put WAITING jobs that no structure holds back into waiting, first in line (fbq check --repair).
-- uses: codec
-- KEYS[1] = waiting list   KEYS[2] = delayed zset   KEYS[3] = failed zset
-- KEYS[4] = job key prefix   KEYS[5..] = every processing list the caller knows of
-- ARGV = ids
-- Returns how many went back. An id is left alone unless, as the script runs, its record says
-- WAITING and it is in none of those lists and sets: a job that moved since the caller looked
-- is not lost. Only waiting feeds the processing lists, so a job in none of them cannot be on
-- its way into one.
local back = 0
for _, id in ipairs(ARGV) do
  local raw = redis.call('GET', KEYS[4] .. id)
  local lost = raw and rec_decode(raw).status == WAITING
    and not redis.call('LPOS', KEYS[1], id)
    and not redis.call('ZSCORE', KEYS[2], id)
    and not redis.call('ZSCORE', KEYS[3], id)
  if lost then
    for i = 5, #KEYS do
      if redis.call('LPOS', KEYS[i], id) then
        lost = false
        break
      end
    end
  end
  if lost then
    redis.call('RPUSH', KEYS[1], id)
    back = back + 1
  end
end
return back
