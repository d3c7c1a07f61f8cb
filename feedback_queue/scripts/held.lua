-- May a worker go on with the attempts it runs? It asks every second or so while it runs any
-- (worker_service/worker.py): an attempt that was cancelled, or taken from it (reaped while it
-- was frozen, say), must stop, and its outcome must not be written. Reads only.
-- uses: codec, clock, started
-- KEYS[1] = started hash   KEYS[2] = job key prefix
-- ARGV = id, token pairs
-- Returns one per pair: HELD_HELD, HELD_CANCELLED, or HELD_LOST (another attempt holds it, or
-- it ended some other way).
local out = {}
for i = 1, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if holds(redis.call('HGET', KEYS[1], id), token) then
    out[#out + 1] = HELD_HELD
  else
    if rec_status(KEYS[2] .. id) == CANCELLED then
      out[#out + 1] = HELD_CANCELLED
    else
      out[#out + 1] = HELD_LOST
    end
  end
end
return out
