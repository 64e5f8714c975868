-- Take messages back before they run (their tasks were cancelled): out of their tenant's
-- ready set, the delayed set or a concurrency limit's parking, payload deleted. A consumer
-- that already claimed one keeps its copy and the claim in Postgres skips it.
-- KEYS: ready, delayed, msgs
-- ARGV: ids
-- (The helpers come from clock.lua.)
local ready, delayed, msgs = KEYS[1], KEYS[2], KEYS[3]
local parkedin = key(ready, 'parkedin')
local n = 0
for i = 1, #ARGV do
  local id = ARGV[i]
  local payload = redis.call('HGET', msgs, id)
  if payload then
    local _, tenant = meta(payload)
    n = n + unready(ready, tenant, id)
  end
  n = n + redis.call('ZREM', delayed, id)
  local parked = redis.call('HGET', parkedin, id)
  if parked then
    n = n + redis.call('ZREM', parked, id)
    redis.call('HDEL', parkedin, id)
  end
  redis.call('HDEL', key(ready, 'paced'), id)
  redis.call('HDEL', msgs, id)
end
return n
