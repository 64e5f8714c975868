-- Settle leased messages outside a fetch: ack (done), requeue (back to ready now), release
-- (back to the delayed set after delay_ms) or dead (set aside in the dead-letter list). Each
-- frees the concurrency slot its message held, if any.
-- KEYS: ready, delayed, leases, msgs, wake, dead
-- ARGV: mode, aging_ms, delay_ms, wake_cap, dead_cap, then the lease members; for requeue and
--       release each member is followed by its message's payload, stored again if another
--       delivery's ack deleted it meanwhile.
-- (`now` and the helpers come from clock.lua.)
local mode, aging, delay = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local wake_cap, dead_cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local ready, delayed, leases, msgs, wake, dead = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

local back = mode == 'requeue' or mode == 'release'
local settled = 0
for i = 6, #ARGV, back and 2 or 1 do
  local member = ARGV[i]
  if redis.call('ZREM', leases, member) == 1 then
    settled = settled + 1
    local id = string.match(member, '^[^|]*')
    free_slot(ready, msgs, wake, id)
    local payload = redis.call('HGET', msgs, id)
    local stored = payload or (back and ARGV[i + 1]) or nil
    local priority, tenant = 5, ''
    if stored then
      priority, tenant = meta(stored)
    end
    local queued = is_ready(ready, tenant, id) or redis.call('ZSCORE', delayed, id)
      or is_parked(ready, id)
    if back and not payload and not queued then
      payload = stored
      redis.call('HSET', msgs, id, payload)
    end
    if payload and not queued then
      if mode == 'requeue' then
        make_ready(ready, tenant, now + settled * 0.0001 - (priority - 1) * aging, id)
        redis.call('RPUSH', wake, '1')
      elseif mode == 'release' then
        redis.call('ZADD', delayed, now + settled * 0.0001 + delay, id)
        redis.call('RPUSH', wake, '1')
      else
        if mode == 'dead' then
          redis.call('LPUSH', dead, payload)
          redis.call('LTRIM', dead, 0, dead_cap - 1)
        end
        redis.call('HDEL', msgs, id)
      end
    end
  end
end
redis.call('LTRIM', wake, -wake_cap, -1)
return settled
