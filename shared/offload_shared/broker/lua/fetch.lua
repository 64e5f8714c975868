-- One consumer's round trip: settle its acks, promote due delayed messages, return expired
-- leases to the ready sets, then claim up to `limit` messages: tenants in turn (round robin),
-- the most urgent of each tenant first, each past its task's limits.
-- KEYS: ready, delayed, leases, msgs, wake
-- ARGV: owner, lease_ms, aging_ms, limit, batch, wake_cap, the number of limits, then five per
--       limit: actor name, limit key, rate per second (0: none), burst, concurrency (0: none);
--       then the lease members to ack
-- Returns {ms until the earliest delayed message is due (-1: none), leases reclaimed,
--          messages held back n, then n pairs (id, reason), then id1, payload1, ...}
-- A message held back by a limit leaves the ready set: over its rate it is delayed until its
-- turn (its token is taken now, so it passes when it comes back); over its concurrency it is
-- parked until a slot of its limit frees (free_slot in clock.lua).
-- (`now`, `meta`, `boost` and the helpers come from clock.lua.)
local owner, lease, aging = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, batch, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ready, delayed, leases, msgs, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local HOLD_CAP = 100  -- messages held back per fetch at most, beyond `limit`

local limits, nlimits = {}, tonumber(ARGV[7])
local a = 8
for _ = 1, nlimits do
  limits[ARGV[a]] = {key = ARGV[a + 1], rate = tonumber(ARGV[a + 2]),
                     burst = tonumber(ARGV[a + 3]), concurrency = tonumber(ARGV[a + 4])}
  a = a + 5
end

for i = a, #ARGV do
  local member = ARGV[i]
  if redis.call('ZREM', leases, member) == 1 then
    local id = string.match(member, '^[^|]*')
    free_slot(ready, msgs, wake, id)
    local payload = redis.call('HGET', msgs, id)
    if payload and not redis.call('ZSCORE', delayed, id) and not is_parked(ready, id) then
      local _, tenant = meta(payload)
      if not is_ready(ready, tenant, id) then
        redis.call('HDEL', msgs, id)
      end
    end
  end
end

local moved = 0
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, batch)
for i = 1, #due, 2 do
  local id = due[i]
  local payload = redis.call('HGET', msgs, id)
  redis.call('ZREM', delayed, id)
  if payload then
    local priority, tenant = meta(payload)
    make_ready(ready, tenant, tonumber(due[i + 1]) - (priority - 1) * aging, id)
    moved = moved + 1
  end
end

local reclaimed = 0
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)
for _, member in ipairs(expired) do
  redis.call('ZREM', leases, member)
  local id = string.match(member, '^[^|]*')
  free_slot(ready, msgs, wake, id)
  local payload = redis.call('HGET', msgs, id)
  if payload and not redis.call('ZSCORE', delayed, id) then
    local priority, tenant = meta(payload)
    make_ready(ready, tenant, now + reclaimed * 0.0001 - (priority - 1) * aging, id)
    reclaimed = reclaimed + 1
  end
end

-- nil if the message may run now; else why not, once it is set aside for later.
local function hold_back(id, payload, tenant, score)
  local _, _, actor = meta(payload)
  local rule = limits[actor]
  if not rule then
    return nil
  end
  local tag = rule.key .. ':' .. tenant
  local slots = key(ready, 'slots:') .. tag
  if rule.concurrency > 0 and not redis.call('ZSCORE', slots, id)
      and redis.call('ZCARD', slots) >= rule.concurrency then
    local parked = key(ready, 'parked:') .. tag
    redis.call('ZADD', parked, score, id)
    redis.call('HSET', key(ready, 'parkedin'), id, parked)
    return 'concurrency_limit'
  end
  -- The rate: a generic cell rate algorithm. `pace` is when the next message would be on time;
  -- up to burst - 1 intervals ahead of it passes at once.
  if rule.rate > 0 and redis.call('HDEL', key(ready, 'paced'), id) == 0 then
    local pace = key(ready, 'pace:') .. tag
    local interval = 1000 / rule.rate
    local at = math.max(tonumber(redis.call('GET', pace)) or now, now)
    redis.call('SET', pace, tostring(at + interval), 'PX', math.ceil(at + interval - now) + 1000)
    local wait = at - now - (rule.burst - 1) * interval
    if wait > 0 then
      redis.call('HSET', key(ready, 'paced'), id, '1')
      redis.call('ZADD', delayed, now + wait, id)
      return 'rate_limit'
    end
  end
  if rule.concurrency > 0 then
    redis.call('ZADD', slots, now, id)
    redis.call('HSET', key(ready, 'slotof'), id, slots)
  end
  return nil
end

local held, taken = {}, {}
local tries = 0
while #taken < 2 * limit and tries < limit + HOLD_CAP do
  local first = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  if not first[1] then
    break
  end
  local tenant, turns = first[1], tonumber(first[2])
  local set = ready .. ':' .. tenant
  -- One message per turn; a tenant alone in the rotation takes all its turns at once.
  local count = 1
  if redis.call('ZCARD', ready) == 1 then
    count = limit - #taken / 2
  end
  local heads = redis.call('ZPOPMIN', set, count)
  if redis.call('EXISTS', set) == 0 then
    redis.call('ZREM', ready, tenant)
  else
    redis.call('ZADD', ready, turns + #heads / 2, tenant)
  end
  for h = 1, #heads, 2 do
    tries = tries + 1
    local id = heads[h]
    local payload = redis.call('HGET', msgs, id)
    if payload then  -- no payload: retracted (cancelled) after it was queued
      local reason = nlimits > 0 and hold_back(id, payload, tenant, tonumber(heads[h + 1]))
      if reason then
        held[#held + 1] = id
        held[#held + 1] = reason
      else
        redis.call('ZADD', leases, now + lease, id .. '|' .. owner)
        taken[#taken + 1] = id
        taken[#taken + 1] = payload
      end
    end
  end
end

if moved + reclaimed > 0 and redis.call('EXISTS', ready) == 1 then
  redis.call('RPUSH', wake, '1')  -- more ready work than this consumer took: wake another
  redis.call('LTRIM', wake, -cap, -1)
end

local out = {'-1', reclaimed, #held / 2}
local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if first[2] then
  out[1] = tostring(math.max(0, math.ceil(tonumber(first[2]) - now)))
end
for _, v in ipairs(held) do
  out[#out + 1] = v
end
for _, v in ipairs(taken) do
  out[#out + 1] = v
end
return out
