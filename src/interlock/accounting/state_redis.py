"""``LimitState`` on Redis: the same counters as ``state.MemoryState``, shared by every replica, via Lua scripts.

Each operation is one Lua script, which Redis runs atomically: no other client's command interleaves between
the check and the update, so N replicas admitting requests at once behave like one process (see the theory of
operation in ``accounting.state``). Clocks: the caller passes ``now_ms`` from its own clock; replicas are
expected to be NTP-synchronised (a skew of a few milliseconds only shifts when a window entry leaves).

Keys (``prefix`` is ``Settings.state_prefix`` + ``limits:``, chosen by the caller):

- ``{key}`` of a request window: a sorted set of request ids scored by admission time (ms);
- ``{key}`` of a token window: a string counter with a TTL;
- a budget slot ``{key}``: a hash ``spent``/``reserved`` (nano-dollars), with ``{key}:leases`` (sorted set of
  lease ids by expiry) and ``{key}:amounts`` (hash lease id -> reserved amount). All three carry the slot's TTL.

Redis Cluster is not supported (a reservation touches the slots of several keys in one script).
"""

from __future__ import annotations

from typing import Any, Final

from interlock.accounting.state import Reservation, Slot, SlotView, Window

__all__ = ["RedisState"]

_HIT: Final = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = 0
if used < limit then
  allowed = 1
  if ARGV[5] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[4])
    used = used + 1
    redis.call('PEXPIRE', KEYS[1], window)
  end
end
local reset = now + window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + window end
return {allowed, used, reset}
"""

# KEYS: hash, leases, amounts per slot. ARGV: n, amount, lease, lease expiry, now, then limit, enforce, ttl per slot.
_RESERVE: Final = """
local n = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local lease = ARGV[3]
local expiry = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
local missing = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[3 * i - 2]) == 0 then missing[#missing + 1] = i - 1 end
end
if #missing > 0 then return {-1, -1, {}, missing} end
local views = {}
local failed = -1
for i = 1, n do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  if #lapsed > 0 then
    local total = 0
    for _, id in ipairs(lapsed) do
      local held = redis.call('HGET', a, id)
      if held then
        total = total + tonumber(held)
        redis.call('HDEL', a, id)
      end
    end
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
    if total ~= 0 then redis.call('HINCRBY', h, 'reserved', -total) end
  end
  local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
  views[i] = {spent, reserved}
  local base = 5 + 3 * (i - 1)
  if failed < 0 and ARGV[base + 2] == '1' and spent + reserved >= tonumber(ARGV[base + 1]) then
    failed = i - 1
  end
end
if failed >= 0 then return {0, failed, views, {}} end
for i = 1, n do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local ttl = tonumber(ARGV[5 + 3 * (i - 1) + 3])
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('ZADD', z, expiry, lease)
  redis.call('HSET', a, lease, amount)
  redis.call('EXPIRE', h, ttl)
  redis.call('EXPIRE', z, ttl)
  redis.call('EXPIRE', a, ttl)
end
return {1, -1, views, {}}
"""

_SEED: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1], 'reserved', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: hash, leases, amounts per slot. ARGV: lease, actual cost.
_SETTLE: Final = """
for i = 1, #KEYS / 3 do
  local h, z, a = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  if redis.call('EXISTS', h) == 1 then
    local held = redis.call('HGET', a, ARGV[1])
    if held then
      redis.call('HDEL', a, ARGV[1])
      redis.call('ZREM', z, ARGV[1])
      redis.call('HINCRBY', h, 'reserved', -tonumber(held))
    end
    redis.call('HINCRBY', h, 'spent', ARGV[2])
  end
end
return 1
"""


def _slot_keys(slots: list[Slot]) -> list[str]:
    keys: list[str] = []
    for slot in slots:
        keys.extend((slot.key, slot.key + ":leases", slot.key + ":amounts"))
    return keys


class RedisState:
    """``LimitState`` shared through Redis (see the module docstring). ``client`` comes from ``store.make_redis``."""

    def __init__(self, client: Any, *, own_client: bool = True) -> None:
        self._client = client
        self._own = own_client
        self._hit = client.register_script(_HIT)
        self._reserve = client.register_script(_RESERVE)
        self._seed = client.register_script(_SEED)
        self._settle = client.register_script(_SETTLE)

    async def hit(self, key: str, limit: int, window_ms: int, now_ms: int, member: str) -> Window:
        allowed, used, reset = await self._hit(keys=[key], args=[now_ms, window_ms, limit, member, 1])
        return Window(bool(allowed), limit, int(used), int(reset))

    async def peek(self, key: str, limit: int, window_ms: int, now_ms: int) -> Window:
        allowed, used, reset = await self._hit(keys=[key], args=[now_ms, window_ms, limit, "", 0])
        return Window(bool(allowed), limit, int(used), int(reset))

    async def get_tokens(self, key: str) -> int:
        value = await self._client.get(key)
        return int(value) if value is not None else 0

    async def add_tokens(self, key: str, tokens: int, ttl_s: int) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, ttl_s)
            await pipe.execute()

    async def reserve(
        self, slots: list[Slot], amount_nusd: int, lease: str, lease_expiry_ms: int, now_ms: int
    ) -> Reservation:
        args: list[Any] = [len(slots), amount_nusd, lease, lease_expiry_ms, now_ms]
        for slot in slots:
            args.extend((slot.limit_nusd, 1 if slot.enforce else 0, slot.ttl_s))
        ok, failed, views, missing = await self._reserve(keys=_slot_keys(slots), args=args)
        return Reservation(
            ok == 1,
            int(failed),
            [SlotView(int(spent), int(reserved)) for spent, reserved in views],
            [int(i) for i in missing],
        )

    async def seed(self, slot: Slot, spent_nusd: int, now_ms: int) -> None:
        await self._seed(keys=[slot.key], args=[spent_nusd, slot.ttl_s])

    async def settle(self, slots: list[Slot], lease: str, actual_nusd: int) -> None:
        await self._settle(keys=_slot_keys(slots), args=[lease, actual_nusd])

    async def views(self, slots: list[Slot]) -> list[SlotView | None]:
        async with self._client.pipeline(transaction=False) as pipe:
            for slot in slots:
                pipe.hmget(slot.key, "spent", "reserved")
            rows = await pipe.execute()
        return [None if spent is None else SlotView(int(spent), int(reserved or 0)) for spent, reserved in rows]

    async def close(self) -> None:
        if self._own:
            await self._client.aclose()
