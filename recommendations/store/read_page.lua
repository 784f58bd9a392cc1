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
    -- entry(i): id and payload (the packed record, or 'id score'), decoded only when reached
    local count, entry
    if zset then
      local flat = redis.call('ZREVRANGE', key, 0, stored - 1, 'WITHSCORES')
      count = #flat / 2
      entry = function(i) return flat[2 * i - 1], flat[2 * i - 1] .. ' ' .. flat[2 * i] end
    else
      local data = redis.call('GETRANGE', key, 0, stored * record_bytes - 1)
      count = math.floor(#data / record_bytes)
      entry = function(i)
        local off = (i - 1) * record_bytes + 1
        local id = string.format('%d', struct.unpack('<i8', data, off))
        return id, string.sub(data, off, off + record_bytes - 1)
      end
    end
    if count > 0 then
      local meta = redis.call('GET', at(meta_template, version))
      -- the first `want` entries not excluded, not seen and with a card (active items)
      local picked, cards, i = {}, {}, 1
      while i <= count and #picked < want do
        local ids, payloads = {}, {}
        while i <= count and #ids < want - #picked do
          local id, payload = entry(i)
          if not excluded[id] then
            ids[#ids + 1] = id
            payloads[#payloads + 1] = payload
          end
          i = i + 1
        end
        if #ids > 0 then
          local seen = false
          if seen_key ~= '' then seen = redis.call('SMISMEMBER', seen_key, unpack(ids)) end
          local batch, keys = {}, {}
          for j = 1, #ids do
            if not seen or seen[j] == 0 then
              batch[#batch + 1] = payloads[j]
              keys[#keys + 1] = card_prefix .. ids[j]
            end
          end
          if #keys > 0 then
            local found = redis.call('MGET', unpack(keys))
            for j = 1, #batch do
              if found[j] then
                picked[#picked + 1] = batch[j]
                cards[#cards + 1] = found[j]
              end
            end
          end
        end
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
