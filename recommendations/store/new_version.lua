-- A new version number, named in its family's set in the same step: the orphan sweep never
-- mistakes a version being written for one nobody names. KEYS: version_seq, family's set.
local version = redis.call('INCR', KEYS[1])
redis.call('SADD', KEYS[2], version)
return version
