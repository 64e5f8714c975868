-- Prepended to every script (redis_queue._lua). `now`: milliseconds since 2026-01-01
-- (redis_queue.EPOCH_MS) on the Redis server's clock, so that a score keeps sub-microsecond
-- precision (a batch's messages get scores 0.1 us apart, in the order given).
-- `boost(payload, aging)`: how far a message's priority moves it ahead, from its options.
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1767225600) * 1000 + tonumber(t[2]) / 1000

local function boost(payload, aging)
  local ok, message = pcall(cjson.decode, payload)
  local priority = ok and type(message) == 'table' and type(message.options) == 'table'
    and tonumber(message.options.priority)
  return ((priority or 5) - 1) * aging  -- 5: broker.DEFAULT_PRIORITY
end
