-- One API read of a list page, in one round trip. Key names come from keys.py: whole keys,
-- templates where ARGV[9] marks the version, and the card prefix.
-- ARGV: record_bytes, want, hit_key, hit_ttl, need_card_key, seen_key, revoked_key,
--       card_prefix, version_mark, impression_counts_key, impression_field,
--       impression_users_key, impression_member, n_exclude, excluded ids...,
--       then per list of the fallback chain: live_key, meta_template, list_template, zset, stored
local record_bytes, want = tonumber(ARGV[1]), tonumber(ARGV[2])
local hit_key, hit_ttl, need_card_key, seen_key = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local revoked_key, card_prefix, mark = ARGV[7], ARGV[8], ARGV[9]
local counts_key, count_field = ARGV[10], ARGV[11]
local users_key, member = ARGV[12], ARGV[13]
local n_exclude = tonumber(ARGV[14])
local excluded = {}
for i = 1, n_exclude do excluded[ARGV[14 + i]] = true end
local function at(template, version)
  local s, e = string.find(template, mark, 1, true)
  return string.sub(template, 1, s - 1) .. version .. string.sub(template, e + 1)
end
local hits = 0
if hit_key ~= '' then
  hits = redis.call('INCR', hit_key)
  if hits == 1 then redis.call('EXPIRE', hit_key, hit_ttl) end
end
if revoked_key ~= '' and redis.call('EXISTS', revoked_key) == 1 then return {hits, -2} end
if need_card_key ~= '' and redis.call('EXISTS', need_card_key) == 0 then return {hits, -1} end
local pos, source = 15 + n_exclude, 0
while pos <= #ARGV do
  source = source + 1
  local live_key, meta_template, list_template = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2]
  local zset, stored = ARGV[pos + 3] == '1', tonumber(ARGV[pos + 4])
  pos = pos + 5
  local version = redis.call('GET', live_key)
  if version then
    local key = at(list_template, version)
    -- entries first..first+n-1 (fewer at the list's end): ids as the card keys spell them and
    -- payloads (the packed record, or 'id score'); read in slices, so a page that is not
    -- filtered reads only its own entries
    local function slice(first, n)
      local ids, payloads = {}, {}
      if zset then
        local flat = redis.call('ZREVRANGE', key, first - 1, first + n - 2, 'WITHSCORES')
        for j = 1, #flat, 2 do
          ids[#ids + 1] = flat[j]
          payloads[#payloads + 1] = flat[j] .. ' ' .. flat[j + 1]
        end
      else
        local data = redis.call('GETRANGE', key, (first - 1) * record_bytes,
                                (first + n - 1) * record_bytes - 1)
        for off = 1, #data - record_bytes + 1, record_bytes do
          ids[#ids + 1] = string.format('%d', struct.unpack('<i8', data, off))
          payloads[#payloads + 1] = string.sub(data, off, off + record_bytes - 1)
        end
      end
      return ids, payloads
    end
    local ids, payloads = slice(1, math.min(want, stored))
    if #ids > 0 then
      local meta = redis.call('GET', at(meta_template, version))
      -- the first `want` entries not excluded, not seen and with a card (active items)
      local picked, cards, read = {}, {}, #ids
      while true do
        local kept, keys = {}, {}
        for j = 1, #ids do
          if not excluded[ids[j]] then
            kept[#kept + 1] = payloads[j]
            keys[#keys + 1] = ids[j]
          end
        end
        if #keys > 0 and seen_key ~= '' then
          local seen = redis.call('SMISMEMBER', seen_key, unpack(keys))
          local unseen, unseen_keys = {}, {}
          for j = 1, #keys do
            if seen[j] == 0 then
              unseen[#unseen + 1] = kept[j]
              unseen_keys[#unseen_keys + 1] = keys[j]
            end
          end
          kept, keys = unseen, unseen_keys
        end
        if #keys > 0 then
          for j = 1, #keys do keys[j] = card_prefix .. keys[j] end
          local found = redis.call('MGET', unpack(keys))
          for j = 1, #kept do
            if found[j] then
              picked[#picked + 1] = kept[j]
              cards[#cards + 1] = found[j]
            end
          end
        end
        local need = math.min(want - #picked, stored - read)
        if need <= 0 then break end
        ids, payloads = slice(read + 1, need)
        if #ids == 0 then break end
        read = read + #ids
      end
      -- an experiment's impression: counted with the read that served it
      if counts_key ~= '' then
        redis.call('HINCRBY', counts_key, count_field, 1)
        redis.call('SADD', users_key, member)
      end
      -- two strings, not 2 x want: far cheaper for the client to parse
      local sep = ''
      if zset then sep = '\n' end
      return {hits, source, version, meta or false, table.concat(picked, sep),
              table.concat(cards, '\n')}
    end
  end
end
return {hits, 0}
