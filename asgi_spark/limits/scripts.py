"""The Lua scripts of the Redis limiter: one per operation, each atomic in Redis.

Every script takes the time as ``ARGV[1]``: a negative value means "Redis's own clock"
(``TIME``), so processes on hosts whose clocks differ agree; tests pass their own.  Floats come
back as strings (Redis turns Lua numbers into integers).  The data:

* slots of a key: a sorted set of lease members (``<lease id>#<i>``) scored by their expiry;
  an expired member is removed before counting, so a crashed process's slots come back
  ``lease_seconds`` after its last renewal;
* a rate: a sorted set of event members scored by their time (the sliding log of
  :class:`~asgi_spark.limits.windows.SlidingLog`);
* a budget: a hash of whole seconds to amounts (:class:`~asgi_spark.limits.windows.Budget`).

Every key gets a time to live a little longer than what it holds, so nothing is left behind.
"""

from __future__ import annotations

from typing import Final

_NOW: Final = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

#: KEYS[1] the slots; ARGV: now, n, capacity, lease seconds, lease id.  {1, used} or {0, used}.
ACQUIRE: Final = (
    _NOW
    + """
local n = tonumber(ARGV[2])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local used = redis.call('ZCARD', KEYS[1])
if used + n > tonumber(ARGV[3]) then
  return {0, used}
end
for i = 1, n do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[5] .. '#' .. i)
end
redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000) + 1000)
return {1, used + n}
"""
)

#: KEYS[1] the slots; ARGV: now, lease seconds, the members to renew.  Sets each member's
#: expiry anew, adding back one that expired meanwhile (its session is still running).
RENEW: Final = (
    _NOW
    + """
local lease = tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000) + 1000)
return #ARGV - 2
"""
)

#: KEYS[1] the slots, KEYS[2] the release channel; ARGV: now (unused), the members to remove.
#: Removes them and tells every process waiting for a slot of this key (PUBLISH).
RELEASE: Final = """
local removed = redis.call('ZREM', KEYS[1], unpack(ARGV, 2))
redis.call('PUBLISH', KEYS[2], KEYS[1])
return removed
"""

#: KEYS[1] the log; ARGV: now, limit, window, n, event id.  {1, "0"} when recorded, else
#: {0, seconds until there is room}.
HIT: Final = (
    _NOW
    + """
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local excess = count + n - limit
if excess <= 0 then
  for i = 1, n do
    redis.call('ZADD', KEYS[1], now, ARGV[5] .. '#' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], excess - 1, excess - 1, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""
)

#: KEYS[1] the budget; ARGV: now, amount, window.  Adds the amount to the current second.
SPEND: Final = (
    _NOW
    + """
local window = tonumber(ARGV[3])
redis.call('HINCRBY', KEYS[1], tostring(math.floor(now)), tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return 1
"""
)

#: KEYS[1] the budget; ARGV: now, limit, window.  {1, "0"} while the window's total is below
#: the limit, else {0, seconds until enough has left the window}.
CHECK: Final = (
    _NOW
    + """
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local horizon = now - window
local flat = redis.call('HGETALL', KEYS[1])
local seconds = {}
local total = 0
for i = 1, #flat, 2 do
  local second = tonumber(flat[i])
  if second <= horizon then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    local amount = tonumber(flat[i + 1])
    total = total + amount
    table.insert(seconds, {second, amount})
  end
end
if total < limit then
  return {1, '0'}
end
table.sort(seconds, function(a, b) return a[1] < b[1] end)
for _, entry in ipairs(seconds) do
  total = total - entry[2]
  if total < limit then
    return {0, tostring(entry[1] + window - now)}
  end
end
return {0, tostring(window)}
"""
)

__all__ = ["ACQUIRE", "CHECK", "HIT", "RELEASE", "RENEW", "SPEND"]
