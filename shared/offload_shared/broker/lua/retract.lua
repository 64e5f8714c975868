-- Take messages back before they run (their tasks were cancelled): out of the ready and
-- delayed sets, payload deleted. A consumer that already claimed one keeps its copy and the
-- claim in Postgres skips it.
-- KEYS: ready, delayed, msgs
-- ARGV: ids
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('ZREM', KEYS[1], ARGV[i]) + redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
end
return n
