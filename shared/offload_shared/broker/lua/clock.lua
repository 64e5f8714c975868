-- Prepended to every script (layout._lua). `now`: milliseconds since 2026-01-01
-- (layout.EPOCH_MS) on the Redis server's clock, so that a score keeps sub-microsecond
-- precision (a batch's messages get scores 0.1 us apart, in the order given).
-- `meta(payload)`: a message's priority, tenant and actor name, from its JSON.
-- `boost(payload, aging)`: how far a message's priority moves it ahead.
-- Ready messages live in one sorted set per tenant, `<ready>:<tenant>`; `<ready>` itself holds
-- the tenants that have ready messages, each scored by its turns in the rotation (fetch.lua).
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1767225600) * 1000 + tonumber(t[2]) / 1000

local WAKE_CAP = 32  -- layout.WAKE_CAP

local function meta(payload)
  local ok, message = pcall(cjson.decode, payload)
  if not (ok and type(message) == 'table') then
    return 5, '', ''
  end
  local options = type(message.options) == 'table' and message.options or {}
  local tenant = type(options.tenant) == 'string' and options.tenant or ''
  local actor = type(message.actor_name) == 'string' and message.actor_name or ''
  return tonumber(options.priority) or 5, tenant, actor  -- 5: broker.DEFAULT_PRIORITY
end

local function boost(payload, aging)
  local priority = meta(payload)
  return (priority - 1) * aging
end

-- A tenant with nothing ready joins the rotation level with the tenant next in turn, so it
-- neither waits behind the others' backlog nor jumps ahead of them for long.
local function make_ready(ready, tenant, score, id)
  redis.call('ZADD', ready .. ':' .. tenant, 'NX', score, id)
  if not redis.call('ZSCORE', ready, tenant) then
    local first = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
    redis.call('ZADD', ready, first[2] or 0, tenant)
  end
end

local function is_ready(ready, tenant, id)
  return redis.call('ZSCORE', ready .. ':' .. tenant, id)
end

local function unready(ready, tenant, id)
  local set = ready .. ':' .. tenant
  local removed = redis.call('ZREM', set, id)
  if removed == 1 and redis.call('EXISTS', set) == 0 then
    redis.call('ZREM', ready, tenant)
  end
  return removed
end

-- The queue's other keys, named from its ready key (`offload:{q}:ready`): see layout.py.
local function key(ready, name)
  return string.sub(ready, 1, -6) .. name
end

local function is_parked(ready, id)
  return redis.call('HEXISTS', key(ready, 'parkedin'), id) == 1
end

-- A finished (or given back) message frees its concurrency slot, if it held one; the message
-- parked longest for that slot, if any, is ready again, in the place it had.
local function free_slot(ready, msgs, wake, id)
  local slotof = key(ready, 'slotof')
  local slots = redis.call('HGET', slotof, id)
  if not slots then
    return
  end
  redis.call('HDEL', slotof, id)
  redis.call('ZREM', slots, id)
  local parked = key(ready, 'parked:') .. string.sub(slots, #key(ready, 'slots:') + 1)
  local next = redis.call('ZPOPMIN', parked, 1)
  if next[1] then
    redis.call('HDEL', key(ready, 'parkedin'), next[1])
    local payload = redis.call('HGET', msgs, next[1])
    if payload then
      local _, tenant = meta(payload)
      make_ready(ready, tenant, tonumber(next[2]), next[1])
      redis.call('RPUSH', wake, '1')
      redis.call('LTRIM', wake, -WAKE_CAP, -1)
    end
  end
end
