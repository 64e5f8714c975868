-- KEYS: the buckets; ARGV: cost (0: only look), then rate per second and burst per bucket.
-- Returns 0 when allowed (and taken), else the milliseconds until it would be.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local need = math.max(cost, 1)
local wait = 0
local level = {}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i]) / 1000
  local burst = tonumber(ARGV[2 * i + 1])
  local b = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < need then
    wait = math.max(wait, math.ceil((need - tokens) / rate))
  end
  level[i] = tokens
end
if wait > 0 or cost == 0 then
  return wait
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i]) / 1000
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tokens', level[i] - cost, 'at', now)
  redis.call('PEXPIRE', key, math.ceil(burst / rate))
end
return 0
