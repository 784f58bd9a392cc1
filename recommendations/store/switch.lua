-- The pointer switch, only while every lock of the job is held by its token; the meta first,
-- then the pointers. KEYS: live, previous, meta, lock keys...; ARGV: version, meta, tokens...
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i - 1] then return {-1, KEYS[i]} end
end
redis.call('SET', KEYS[3], ARGV[2])
local old = redis.call('GET', KEYS[1])
if old then redis.call('SET', KEYS[2], old) end
redis.call('SET', KEYS[1], ARGV[1])
return {0, old or false}
