"""The Lua scripts of the Redis store: every step that touches more than one key.

A script runs atomically on the Redis server (one slot: every key shares the prefix's hash
tag, see :mod:`.layout`). Keys built inside a script (a node's held set) carry the same
hash tag, so they are in the scripts' slot too.

Scripts read records only through the header byte ranges of :mod:`.layout`; ``$NEXT_TIME``
and ``$CREATED_TIME`` below become those ranges (1-based, inclusive, as ``string.sub``
takes them). Bulk steps go through ``bulk``, one command per slice of up to 2000
arguments (Lua's ``unpack`` is limited to about 8000 values).
"""

from __future__ import annotations

from string import Template

from . import layout

__all__ = ["ACK", "ADD_FAILURE", "CLAIM", "DUE", "GET", "HEARTBEAT", "PUT", "RELEASE",
           "REMOVE", "REMOVE_FAILURES", "RESCHEDULE", "SET_CHECKPOINT"]
_PRELUDE = """
local function bulk(command, key, args, flag)
  local out = {}
  for i = 1, #args, 2000 do
    local part
    if flag then
      part = redis.call(command, key, flag, unpack(args, i, math.min(i + 1999, #args)))
    else
      part = redis.call(command, key, unpack(args, i, math.min(i + 1999, #args)))
    end
    if type(part) == 'table' then
      for _, value in ipairs(part) do out[#out + 1] = value end
    end
  end
  return out
end

-- Ends the lease of every occurrence in the held set; returns how many.
local function release(held, lease)
  local ids = redis.call('SMEMBERS', held)
  local leases = {}
  for _, id in ipairs(ids) do
    leases[#leases + 1] = '-inf'
    leases[#leases + 1] = id
  end
  bulk('ZADD', lease, leases, 'XX')
  return #ids
end
"""


def _lua_range(where: slice) -> str:
    return f"{where.start + 1}, {where.stop}"


def _render(source: str) -> str:
    return _PRELUDE + Template(source).substitute(
        NEXT_TIME=_lua_range(layout.NEXT_TIME), CREATED_TIME=_lua_range(layout.CREATED_TIME))


#: KEYS plans, due, keys. ARGV: (next_time, key, record) triples.
#: Creates or replaces each plan and indexes it as due; returns the number written.
PUT = _render("""
local plans, due, keys = {}, {}, {}
for i = 1, #ARGV, 3 do
  local key = ARGV[i + 1]
  plans[#plans + 1] = key
  plans[#plans + 1] = ARGV[i + 2]
  due[#due + 1] = ARGV[i]
  due[#due + 1] = key
  keys[#keys + 1] = 0
  keys[#keys + 1] = key
end
bulk('HSET', KEYS[1], plans)
bulk('ZADD', KEYS[2], due)
bulk('ZADD', KEYS[3], keys)
return #ARGV / 3
""")

#: KEYS plans, due. ARGV key. Returns nil or {record, 1 if waiting, 0 if claimed}.
GET = _render("""
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
return {record, redis.call('ZSCORE', KEYS[2], ARGV[1]) and 1 or 0}
""")

#: KEYS plans, due, keys. ARGV key. Deletes the plan; returns what GET would have.
REMOVE = _render("""
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return {record, redis.call('ZREM', KEYS[2], ARGV[1])}
""")

#: KEYS plans, due. ARGV start, end. Records of waiting plans with start <= next_time <= end,
#: in (next_time, key) order.
DUE = _render("""
return bulk('HMGET', KEYS[1], redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[2]))
""")

#: KEYS plans, due, inflight, lease, owner, held set of the claiming node, nodes.
#: ARGV up_to, node, lease_until, limit, now, held-set prefix.
#: A node marked taken over gets nothing. Otherwise: takes over the claims of the other
#: nodes whose heartbeat ran out before ``now`` (their leases end, they are marked -inf),
#: re-leases to ``node`` the occurrences whose lease ended before ``now``, then claims the
#: waiting plans due up to ``up_to`` in (next_time, key) order, at most ``limit`` in all.
#: A claimed plan leaves the due index (that is what marks it executing) and a snapshot of
#: it is kept in flight. Returns the snapshots.
CLAIM = _render("""
local up_to, node, lease_until, limit, now, held_prefix =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
if redis.call('ZSCORE', KEYS[7], node) == '-inf' then return {} end
for _, silent in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '(-inf', '(' .. now)) do
  if silent ~= node then
    release(held_prefix .. silent, KEYS[4])
    redis.call('ZADD', KEYS[7], '-inf', silent)
  end
end

local ids = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. now, 'LIMIT', 0, limit)
local out = bulk('HMGET', KEYS[3], ids)
local position = {}
for i, id in ipairs(ids) do position[id] = i end

local room = limit - #ids
local keys = room > 0 and redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', up_to, 'LIMIT', 0, room)
  or {}
if #keys > 0 then
  local records = bulk('HMGET', KEYS[1], keys)
  local snapshots = {}
  for i, key in ipairs(keys) do
    local record = records[i]
    local id = key .. '\\0' .. string.sub(record, $NEXT_TIME)
    snapshots[#snapshots + 1] = id
    snapshots[#snapshots + 1] = record
    if position[id] then  -- put again with the same next_time while in flight: one firing
      out[position[id]] = record
    else
      ids[#ids + 1] = id
      out[#out + 1] = record
      position[id] = #out
    end
  end
  bulk('ZREM', KEYS[2], keys)
  bulk('HSET', KEYS[3], snapshots)
end

if #ids > 0 then
  local previous = bulk('HMGET', KEYS[5], ids)
  local owners, leases = {}, {}
  for i, id in ipairs(ids) do
    if previous[i] and previous[i] ~= node then
      redis.call('SREM', held_prefix .. previous[i], id)
    end
    owners[#owners + 1] = id
    owners[#owners + 1] = node
    leases[#leases + 1] = lease_until
    leases[#leases + 1] = id
  end
  bulk('HSET', KEYS[5], owners)
  bulk('SADD', KEYS[6], ids)
  bulk('ZADD', KEYS[4], leases)
end
return out
""")

#: KEYS plans, due, keys. ARGV: (key, next_time bytes, created_time bytes, successor
#: next_time, successor record ('' deletes)) quintuples. Each acts only if the stored plan is
#: still the claimed one; returns, for each in order, 1 if it acted, 0 if the plan was
#: replaced or removed.
RESCHEDULE = _render("""
local acted = {}
for i = 1, #ARGV, 5 do
  local key = ARGV[i]
  local record = redis.call('HGET', KEYS[1], key)
  if record and string.sub(record, $NEXT_TIME) == ARGV[i + 1]
      and string.sub(record, $CREATED_TIME) == ARGV[i + 2] then
    if ARGV[i + 4] == '' then
      redis.call('HDEL', KEYS[1], key)
      redis.call('ZREM', KEYS[2], key)
      redis.call('ZREM', KEYS[3], key)
    else
      redis.call('HSET', KEYS[1], key, ARGV[i + 4])
      redis.call('ZADD', KEYS[2], ARGV[i + 3], key)
    end
    acted[#acted + 1] = 1
  else
    acted[#acted + 1] = 0
  end
end
return acted
""")

#: KEYS inflight, lease, owner. ARGV held-set prefix, then occurrence ids. Forgets each
#: occurrence; returns how many were in flight.
ACK = _render("""
local known = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local node = redis.call('HGET', KEYS[3], id)
  if node then
    redis.call('SREM', ARGV[1] .. node, id)
    known = known + 1
  end
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
return known
""")

#: KEYS held set of the node, lease. Ends the lease of every occurrence the node holds, so
#: the next claim (by any node) takes them; returns how many.
RELEASE = _render("""
return release(KEYS[1], KEYS[2])
""")

#: KEYS nodes. ARGV node, alive_until. Registers the node as alive until then; returns 1 if
#: it was registered and not taken over (its claims are intact), else 0.
HEARTBEAT = _render("""
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return (before and before ~= '-inf') and 1 or 0
""")

#: KEYS checkpoint. ARGV second. Keeps the maximum of the stored and the given second.
SET_CHECKPOINT = _render("""
local current = redis.call('GET', KEYS[1])
if not current or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
""")

#: KEYS failures, failure order, failure sequence, failures dropped. ARGV id, JSON, bound.
#: Adds (or replaces) the failure as the newest, then drops the oldest beyond the bound,
#: counting them.
ADD_FAILURE = _render("""
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[1], popped[i]) end
  redis.call('INCRBY', KEYS[4], over)
end
return 1
""")

#: KEYS failures, failure order. ARGV the ids (none: all). Returns how many were there.
REMOVE_FAILURES = _render("""
if #ARGV == 0 then
  local n = redis.call('ZCARD', KEYS[2])
  redis.call('DEL', KEYS[1], KEYS[2])
  return n
end
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call('HDEL', KEYS[1], id) == 1 then
    redis.call('ZREM', KEYS[2], id)
    n = n + 1
  end
end
return n
""")
