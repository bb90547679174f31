"""The Lua scripts of the Redis stores (one atomic round trip each)."""

from __future__ import annotations

__all__ = ["FLUSH_SCRIPT", "LIST_RUNS_SCRIPT"]

FLUSH_SCRIPT = """
local p = ARGV[1]
local nruns, nck, nev = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fields = {'status', 'agent', 'parent', 'kind'}
local bad = nil
local function expect(key, kind)
  if bad then return end
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= kind then
    bad = 'WRONGTYPE ' .. key .. ' is a ' .. t .. ' where murmur keeps a ' .. kind
  end
end
-- Pass 1: check every key this batch touches, so a bad one fails it before any write.
expect(p .. 'schema_version', 'string')
local i = 5
for _ = 1, nruns do
  local key = p .. 'run:' .. ARGV[i]
  expect(key, 'hash')
  expect(p .. 'runs:all', 'zset')
  if not bad then
    local old = redis.call('HMGET', key, 'status', 'agent', 'parent', 'kind')
    for f = 1, 4 do
      if old[f] and old[f] ~= '' then expect(p .. 'runs:' .. fields[f] .. ':' .. old[f], 'zset') end
      local new = ARGV[i + 2 + f]
      if new ~= '' then expect(p .. 'runs:' .. fields[f] .. ':' .. new, 'zset') end
    end
  end
  i = i + 7
end
for _ = 1, nck do
  expect(p .. 'ckpt:' .. ARGV[i], 'hash')
  i = i + 3
end
if nev > 0 then
  expect(p .. 'ev:ids', 'hash')
  expect(p .. 'ev:seq', 'string')
  expect(p .. 'ev:data', 'hash')
  expect(p .. 'ev:all', 'zset')
  expect(p .. 'ev:time', 'zset')
end
for _ = 1, nev do
  local trace, parent, agent, etype = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  if trace ~= '' then expect(p .. 'ev:trace:' .. trace, 'zset') end
  if parent ~= '' then expect(p .. 'ev:parent:' .. parent, 'zset') end
  if agent ~= '' then expect(p .. 'ev:agent:' .. agent, 'zset') end
  expect(p .. 'ev:type:' .. etype, 'zset')
  i = i + 7
end
if bad then return redis.error_reply(bad) end
-- Pass 2: write.
redis.call('SET', p .. 'schema_version', ARGV[5 + nruns * 7 + nck * 3 + nev * 7], 'NX')
i = 5
for _ = 1, nruns do
  local id, body, created = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local status, agent, parent, kind = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  i = i + 7
  local key = p .. 'run:' .. id
  local old = redis.call('HMGET', key, 'status', 'agent', 'parent', 'kind')
  for f = 1, 4 do
    if old[f] and old[f] ~= '' then
      redis.call('ZREM', p .. 'runs:' .. fields[f] .. ':' .. old[f], id)
    end
  end
  redis.call('HSET', key, 'json', body, 'status', status, 'agent', agent,
             'parent', parent, 'kind', kind)
  redis.call('ZADD', p .. 'runs:all', created, id)
  local new = {status, agent, parent, kind}
  for f = 1, 4 do
    if new[f] ~= '' then
      redis.call('ZADD', p .. 'runs:' .. fields[f] .. ':' .. new[f], created, id)
    end
  end
end
for _ = 1, nck do
  redis.call('HSET', p .. 'ckpt:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
local stored = 0
for _ = 1, nev do
  local id, body, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local trace, parent, agent, etype = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  i = i + 7
  if redis.call('HEXISTS', p .. 'ev:ids', id) == 0 then
    local seq = redis.call('INCR', p .. 'ev:seq')
    redis.call('HSET', p .. 'ev:data', seq, body)
    redis.call('HSET', p .. 'ev:ids', id, seq)
    redis.call('ZADD', p .. 'ev:all', seq, seq)
    redis.call('ZADD', p .. 'ev:time', ts, seq)
    if trace ~= '' then redis.call('ZADD', p .. 'ev:trace:' .. trace, seq, seq) end
    if parent ~= '' then redis.call('ZADD', p .. 'ev:parent:' .. parent, seq, seq) end
    if agent ~= '' then redis.call('ZADD', p .. 'ev:agent:' .. agent, seq, seq) end
    redis.call('ZADD', p .. 'ev:type:' .. etype, seq, seq)
    stored = stored + 1
  end
end
return stored
"""
"""Writes one batch (ARGV: prefix, counts, run / checkpoint / event rows, layout version).
Pass 1 checks the type of every key the batch touches and fails with WRONGTYPE before any
write; pass 2 writes. So a batch is written whole or not at all."""

LIST_RUNS_SCRIPT = """
local src = KEYS[2]
if #KEYS > 2 then
  local args = {'ZINTERSTORE', KEYS[1], #KEYS - 1}
  for k = 2, #KEYS do args[#args + 1] = KEYS[k] end
  args[#args + 1] = 'AGGREGATE'
  args[#args + 1] = 'MAX'
  redis.call(unpack(args))
  src = KEYS[1]
end
local ids = redis.call('ZRANGE', src, ARGV[1], ARGV[2], 'REV')
if #KEYS > 2 then redis.call('DEL', KEYS[1]) end
local out = {}
for n, id in ipairs(ids) do
  out[n] = redis.call('HGET', ARGV[3] .. 'run:' .. id, 'json') or ''
end
return out
"""
"""Lists run records (KEYS: a temporary key, then the index sets to intersect)."""
