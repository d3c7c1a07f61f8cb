-- Library: the one rate limiter, a GCRA (generic cell rate algorithm) over one key holding the
-- theoretical arrival time (ms, '%.3f'): `limit` at once, then one every period/limit.

-- May `n` more events happen now, at most `limit` per `period` ms? Returns how many may (they
-- are counted) and, when none may, how many ms until one can (at least 1). limit <= 0: no
-- limit. With `expires`, the key expires when it stops mattering (the per-submitter keys: one
-- per submitter, so they must not pile up); without, it never does (the global limiter: a
-- forgotten limit would let a burst through; it is one key of a few bytes).
local function gcra_admit(key, now, limit, period, n, expires)
  if limit <= 0 then
    return n, 0
  end
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or 0)
  if tat < now then tat = now end
  local allowed = math.min(n, math.floor((now + period - tat) / interval))
  if allowed <= 0 then
    return 0, math.max(math.ceil(tat + interval - period - now), 1)
  end
  local new_tat = tat + allowed * interval
  if expires then
    redis.call('SET', key, string.format('%.3f', new_tat), 'PX', math.max(math.ceil(new_tat - now), 1))
  else
    redis.call('SET', key, string.format('%.3f', new_tat))
  end
  return allowed, 0
end

-- Give back `n` events that gcra_admit counted but that did not happen (the global limiter:
-- no TTL).
local function gcra_refund(key, limit, period, n)
  if limit <= 0 or n <= 0 then
    return
  end
  local tat = tonumber(redis.call('GET', key) or 0)
  redis.call('SET', key, string.format('%.3f', tat - n * period / limit))
end
