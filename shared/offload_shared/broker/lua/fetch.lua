-- One consumer's round trip: settle its acks, promote due delayed messages, return expired
-- leases to the ready set, then claim up to `limit` messages, most urgent first.
-- KEYS: ready, delayed, leases, msgs, wake
-- ARGV: owner, lease_ms, aging_ms, limit, batch, wake_cap, then the lease members to ack
-- Returns {ms until the earliest delayed message is due (-1: none), leases reclaimed,
--          id1, payload1, id2, payload2, ...}
-- (`now` and `boost` come from clock.lua.)
local owner, lease, aging = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, batch, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ready, delayed, leases, msgs, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

for i = 7, #ARGV do
  local member = ARGV[i]
  if redis.call('ZREM', leases, member) == 1 then
    local id = string.match(member, '^[^|]*')
    if not redis.call('ZSCORE', ready, id) and not redis.call('ZSCORE', delayed, id) then
      redis.call('HDEL', msgs, id)
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
    redis.call('ZADD', ready, 'NX', tonumber(due[i + 1]) - boost(payload, aging), id)
    moved = moved + 1
  end
end

local reclaimed = 0
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, batch)
for _, member in ipairs(expired) do
  redis.call('ZREM', leases, member)
  local id = string.match(member, '^[^|]*')
  local payload = redis.call('HGET', msgs, id)
  if payload and not redis.call('ZSCORE', delayed, id) then
    redis.call('ZADD', ready, 'NX', now + reclaimed * 0.0001 - boost(payload, aging), id)
    reclaimed = reclaimed + 1
  end
end

local out = {'-1', reclaimed}
if limit > 0 then
  local popped = redis.call('ZPOPMIN', ready, limit)
  for i = 1, #popped, 2 do
    local id = popped[i]
    local payload = redis.call('HGET', msgs, id)
    if payload then  -- no payload: retracted (cancelled) after it was queued
      redis.call('ZADD', leases, now + lease, id .. '|' .. owner)
      out[#out + 1] = id
      out[#out + 1] = payload
    end
  end
end

if moved + reclaimed > 0 and redis.call('ZCARD', ready) > 0 then
  redis.call('RPUSH', wake, '1')  -- more ready work than this consumer took: wake another
  redis.call('LTRIM', wake, -cap, -1)
end

local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if first[2] then
  out[1] = tostring(math.max(0, math.ceil(tonumber(first[2]) - now)))
end
return out
