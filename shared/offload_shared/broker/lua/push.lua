-- Publish messages onto one queue (the layout is described in redis_queue.py).
-- KEYS: ready, delayed, msgs, wake
-- ARGV: aging_ms, wake_cap, then four per message: id, priority, delay_ms, payload
-- A message published again replaces its payload and moves to where the last publish put it;
-- a ready message keeps its place (ZADD NX), so a duplicate publish never jumps the queue.
-- (`now` and `boost` come from clock.lua.)
local aging = tonumber(ARGV[1])
local n = 0
for i = 3, #ARGV, 4 do
  local id, priority, delay = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local at = now + n * 0.0001
  redis.call('HSET', KEYS[3], id, ARGV[i + 3])
  if delay > 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], at + delay, id)
  else
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[1], 'NX', at - (priority - 1) * aging, id)
  end
  n = n + 1
end
-- One wake-up per message, capped: each wakes one consumer blocked on the list (a delayed
-- message too, so that an idle consumer sets its timer for the new earliest due time).
local cap = tonumber(ARGV[2])
for _ = 1, math.min(n, cap) do
  redis.call('RPUSH', KEYS[4], '1')
end
redis.call('LTRIM', KEYS[4], -cap, -1)
return n
