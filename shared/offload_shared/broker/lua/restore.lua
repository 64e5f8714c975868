-- Put back the messages of tasks Postgres says are pending, unless they are queued already
-- (reconciliation after Redis lost data; see offload_scheduler/reconcile.py). Each message
-- gets the place it had: a ready one is scored from its own ready time, not from now. A
-- message parked behind a concurrency limit counts as queued.
-- With `fix` (a rebuild after a restart or failover, where what Redis holds may be a stale
-- copy) a message that is queued but in the wrong set is moved: ready while Postgres says it
-- is due later (a retry in backoff the replica never saw) goes back to the delayed set, and a
-- delayed one takes Postgres' due time. Ready messages in the right set keep their place.
-- KEYS: ready, delayed, msgs, wake
-- ARGV: aging_ms, wake_cap, fix (0/1), then five per message: id, priority, ready time (ms
--       from the EPOCH, on Postgres' clock), tenant, payload
-- Returns how many were put back or moved. (`now` and the helpers come from clock.lua.)
local aging, cap, fix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local ready, delayed, msgs, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = 0
for i = 4, #ARGV, 5 do
  local id, priority, at = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local tenant = ARGV[i + 3]
  local in_ready = is_ready(ready, tenant, id)
  local in_delayed = redis.call('ZSCORE', delayed, id)
  local put = not in_ready and not in_delayed and not is_parked(ready, id)
  if fix and not put then
    if in_ready and at > now then
      unready(ready, tenant, id)
      put = true
    elseif in_delayed and tonumber(in_delayed) ~= at then
      redis.call('ZREM', delayed, id)
      put = true
    end
  end
  if put then
    redis.call('HSET', msgs, id, ARGV[i + 4])
    if at > now then
      redis.call('ZADD', delayed, at, id)
    else
      make_ready(ready, tenant, at - (priority - 1) * aging, id)
    end
    n = n + 1
  end
end
for _ = 1, math.min(n, cap) do
  redis.call('RPUSH', wake, '1')
end
redis.call('LTRIM', wake, -cap, -1)
return n
