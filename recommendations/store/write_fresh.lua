-- Fresh lists of a few users, written into the live versions they were computed against, all
-- or nothing: if a family's pointer has moved since (a batch publish or a rollback), nothing
-- is written and the caller computes again against the new version.
-- KEYS: the families' live pointers, then the list keys (whole, inside those versions);
-- ARGV: the number of pointers, the version each must still name, then one value per list key.
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[1 + i] then return 0 end
end
for i = n + 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1])
end
return 1
