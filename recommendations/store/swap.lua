-- Rollback: live and previous change places, under the family's publish lock.
-- KEYS: live, previous, lock; ARGV: the lock's token.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1, false} end
local old = redis.call('GET', KEYS[2])
if not old then return {-2, false} end
local current = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], old)
if current then redis.call('SET', KEYS[2], current) end
return {0, old}
