-- Put back the messages of tasks Postgres says are pending, unless they are queued already
-- (reconciliation after Redis lost data; see offload_scheduler/reconcile.py). Each message
-- gets the place it had: a ready one is scored from its own ready time, not from now.
-- KEYS: ready, delayed, msgs, wake
-- ARGV: aging_ms, wake_cap, then four per message: id, priority, ready time (ms from the
--       EPOCH, on Postgres' clock), payload
-- Returns how many were put back. (`now` comes from clock.lua.)
local aging, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local ready, delayed, msgs, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local n = 0
for i = 3, #ARGV, 4 do
  local id, priority, at = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if not redis.call('ZSCORE', ready, id) and not redis.call('ZSCORE', delayed, id) then
    redis.call('HSET', msgs, id, ARGV[i + 3])
    if at > now then
      redis.call('ZADD', delayed, at, id)
    else
      redis.call('ZADD', ready, at - (priority - 1) * aging, id)
    end
    n = n + 1
  end
end
for _ = 1, math.min(n, cap) do
  redis.call('RPUSH', wake, '1')
end
redis.call('LTRIM', wake, -cap, -1)
return n
