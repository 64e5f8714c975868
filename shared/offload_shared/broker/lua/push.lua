-- Publish messages onto one queue (the layout is described in layout.py).
-- KEYS: ready, delayed, msgs, wake
-- ARGV: aging_ms, wake_cap, then five per message: id, priority, delay_ms, tenant, payload
-- A message published again replaces its payload and moves to where the last publish put it;
-- a ready message keeps its place (ZADD NX), so a duplicate publish never jumps the queue.
-- (`now` and the helpers come from clock.lua.)
local aging = tonumber(ARGV[1])
local ready, delayed, msgs = KEYS[1], KEYS[2], KEYS[3]
local n = 0
for i = 3, #ARGV, 5 do
  local id, priority, delay = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local tenant = ARGV[i + 3]
  local at = now + n * 0.0001
  redis.call('HSET', msgs, id, ARGV[i + 4])
  if delay > 0 then
    unready(ready, tenant, id)
    redis.call('ZADD', delayed, at + delay, id)
  elseif not is_parked(ready, id) then
    redis.call('ZREM', delayed, id)
    make_ready(ready, tenant, at - (priority - 1) * aging, id)
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
