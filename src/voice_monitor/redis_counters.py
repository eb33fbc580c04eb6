"""Real-time counters in Redis, shared by every landing host (contract §5, §13).

The same semantics as the embedded SQLite store, in keys that expire instead of being pruned:

    vm:s:{hour}:{event_id}   "seen" marker of an (event_id, hour): the de-duplication key
                             (also for an event whose type counts nothing: a later copy of
                             it, of another type, counts nothing either)
    vm:n:{minute}:{scope}    hash metric -> count of the minute's new events, per scope
                             (scope "p" = platform, every event; "o:<id>" = one organization)
    vm:t:{minute}            sorted set of the minute's new events, scored by timestamp (µs):
                             a read subtracts the few of the current minute stamped after `now`
    vm:o:{minute}            set of the organization scopes that have counts in the minute
    vm:h                     the fixed horizon (µs), as the SQLite store's `horizon` row: the
                             latest `now` - STATE_TTL of any landing (what it left out never
                             counts), and the last minute of every landing whose keys have all
                             expired since
    vm:r                     set while the database has lost its data (Redis restarted without
                             persistence, flushed): the first landing that finds no vm:h and
                             no vm:hm writes it; a refill from the lake that counted every
                             event clears it (counter_refill.py); reads count from the lake
                             meanwhile
    vm:rl                    the lease of the process refilling (expires with a dead one)
    vm:hm                    hash: Redis's clock minute -> "offset crossing last" of the landings
                             in that minute: the largest `now` - Redis's clock (µs), when (by
                             Redis's clock) their last key expires, and the end of the last
                             minute they counted in. Until that crossing the counts are whole
                             from `now` - STATE_TTL moved on by Redis's clock, as their keys
                             expire; after it, from that last minute's end, which no longer
                             moves: the first landing of a minute folds such entries into vm:h,
                             so a landing with a `now` hours ahead holds real-time reads back
                             only until the clock passes it, as on the SQLite store (`horizon`)

One Lua script per batch marks each event seen with SET NX and counts it only when that
succeeded, so two hosts landing the same event count it once, in one round-trip per batch.
Each key lives until its event (or minute) is STATE_TTL old, exactly what the SQLite store
prunes. A read is one Lua script call summing at most 60 minute buckets server-side, plus one
range of the current minute: O(1) in the number of events. Keys are built inside the scripts,
so Redis Cluster is not supported; a single Redis (with replicas for failover) serves one
deployment, one database each.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import redis

from voice_monitor.counters import (
    _MINUTE_US,
    METRIC_BITS,
    METRICS,
    STATE_TTL,
    _scope,
    _us,
    counted_rows,
    metrics_of_mask,
)
from voice_monitor.schema import FUTURE_TOLERANCE_MS, UNIX_EPOCH

PREFIX = "vm:"
_SEP = "\x1f"  # identifiers never hold control characters (contract §3)
_TTL_US = int(STATE_TTL.total_seconds() * 1_000_000)
_CHUNK = 2_000  # events per script call: keeps Redis responsive while a big batch lands
_CSV = {mask: ",".join(metrics_of_mask(mask)) for mask in {0, *METRIC_BITS.values()}}

# Redis's clock in µs, plus ARGV[2] (0; tests move the clock on without sleeping)
_CLOCK = """
local function clock_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[2])
end
"""

# ARGV: prefix, clock shift (µs), the landing's now (µs), then per event: id, hour, minute,
# ts_us, org scope or "", metrics csv, seconds the seen marker lives, seconds the minute's keys
# live. Each event costs its SET NX and its ZADD; the counts of the new ones are summed per
# (minute, scope, metric) and written with one HINCRBY each, every minute key's expiry set
# once. The horizon (vm:h, vm:hm) is recorded first, also for a landing that counts nothing.
# A landing that finds no horizon at all (a new database, or one that lost its data) marks the
# database for a refill (vm:r). Returns {events counted, 1 if the mark is there else 0}.
_RECORD = _CLOCK + """
local prefix, fresh = ARGV[1], 0
local sums, expiry, orgs = {}, {}, {}
local c, now = clock_us(), tonumber(ARGV[3])
local offset = now - c
-- what this landing leaves out (stamped before now - TTL) never counts: fixed, as on SQLite
local fixed = tonumber(redis.call('GET', prefix .. 'h'))
local horizon = now - TTL
if fixed and fixed > horizon then horizon = fixed end
local last, crossing = now - TTL, c + LIFE
local newest
for i = 7, #ARGV, 8 do
  local ts = tonumber(ARGV[i])
  if not newest or ts > newest then newest = ts end
end
if newest then  -- its keys live until the end of its last minute is TTL older than its now
  local minute_end = (math.floor(newest / MINUTE) + 1) * MINUTE
  if minute_end > last then last = minute_end end
  if c + minute_end - now + TTL + 1000000 > crossing then
    crossing = c + minute_end - now + TTL + 1000000
  end
end
local entries, field = prefix .. 'hm', string.format('%d', math.floor(c / MINUTE))
local held = redis.call('HGET', entries, field)
if held then
  local o, x, l = string.match(held, '(%S+) (%S+) (%S+)')
  offset = math.max(offset, tonumber(o))
  crossing = math.max(crossing, tonumber(x))
  last = math.max(last, tonumber(l))
else  -- the minute's first landing folds the entries whose keys have all expired into vm:h
  local flat = redis.call('HGETALL', entries)
  -- no landing ever recorded its horizon here: a new database, or one that came back empty
  if not fixed and #flat == 0 then redis.call('SET', prefix .. 'r', string.format('%d', c)) end
  for i = 1, #flat, 2 do
    local _, x, l = string.match(flat[i + 1], '(%S+) (%S+) (%S+)')
    if tonumber(x) <= c then
      horizon = math.max(horizon, tonumber(l))
      redis.call('HDEL', entries, flat[i])
    end
  end
end
redis.call('HSET', entries, field, string.format('%d %d %d', offset, crossing, last))
if horizon ~= fixed then
  redis.call('SET', prefix .. 'h', string.format('%d', horizon))
end
for i = 4, #ARGV, 8 do
  local id, hour, minute, ts, scope, metrics, seen_ttl, minute_ttl = unpack(ARGV, i, i + 7)
  if redis.call('SET', prefix .. 's:' .. hour .. ':' .. id, '1', 'NX', 'EX', seen_ttl) then
    if metrics ~= '' then  -- a type that feeds no metric is only marked seen
    fresh = fresh + 1
    local scopes = {'p'}
    if scope ~= '' then
      scopes[2] = scope
      local minute_orgs = prefix .. 'o:' .. minute
      orgs[minute_orgs] = orgs[minute_orgs] or {}
      orgs[minute_orgs][scope] = true
      expiry[minute_orgs] = minute_ttl
    end
    for _, s in ipairs(scopes) do
      local bucket = prefix .. 'n:' .. minute .. ':' .. s
      for metric in string.gmatch(metrics, '[^,]+') do
        local field = bucket .. '\\31' .. metric
        sums[field] = (sums[field] or 0) + 1
      end
      expiry[bucket] = minute_ttl
    end
    local times = prefix .. 't:' .. minute
    redis.call('ZADD', times, ts, metrics .. '\\31' .. scope .. '\\31' .. hour .. ':' .. id)
    expiry[times] = minute_ttl
    end
  end
end
for field, n in pairs(sums) do
  local cut = string.find(field, '\\31', 1, true)
  redis.call('HINCRBY', string.sub(field, 1, cut - 1), string.sub(field, cut + 1), n)
end
for key, members in pairs(orgs) do
  for scope in pairs(members) do
    redis.call('SADD', key, scope)
  end
end
for key, ttl in pairs(expiry) do
  redis.call('EXPIRE', key, ttl)
end
return {fresh, redis.call('EXISTS', prefix .. 'r')}
"""


# ARGV: prefix, scope, first minute, current minute, now (µs). Sums the scope's minute buckets
# server-side and returns them with the current minute's events stamped after `now`.
_READ = """
local prefix, scope, now = ARGV[1], ARGV[2], ARGV[5]
local first, last = tonumber(ARGV[3]), tonumber(ARGV[4])
local totals = {}
for m = first, last do
  local flat = redis.call('HGETALL', prefix .. 'n:' .. string.format('%d', m) .. ':' .. scope)
  for i = 1, #flat, 2 do
    totals[flat[i]] = (totals[flat[i]] or 0) + tonumber(flat[i + 1])
  end
end
local sums = {}
for metric, n in pairs(totals) do
  sums[#sums + 1] = metric
  sums[#sums + 1] = n
end
local last_key = prefix .. 't:' .. string.format('%d', last)
return {sums, redis.call('ZRANGEBYSCORE', last_key, '(' .. now, '+inf')}
"""


# ARGV: prefix, clock shift (µs). The horizon in µs (`horizon`), nil before any landing, or
# "refill" while the database is marked as having lost its data (vm:r).
_HORIZON = _CLOCK + """
local prefix, c = ARGV[1], clock_us()
if redis.call('EXISTS', prefix .. 'r') == 1 then return 'refill' end
local best = tonumber(redis.call('GET', prefix .. 'h'))
local flat = redis.call('HGETALL', prefix .. 'hm')
for i = 2, #flat, 2 do
  local o, x, l = string.match(flat[i], '(%S+) (%S+) (%S+)')
  local whole = tonumber(l)
  if c < tonumber(x) then whole = c + tonumber(o) - TTL end
  if not best or whole > best then best = whole end
end
if not best then return false end
return string.format('%d', best)
"""


# ARGV: prefix, clock shift (µs), lease id, lease seconds. If the database holds the refill
# mark (vm:r) and no other process holds the lease (then it is this one's): {the mark, the
# landings' present in µs (Redis's clock plus their largest `now` offset in vm:hm; "" if none)},
# else nil.
_CLAIM = _CLOCK + """
local mark = redis.call('GET', ARGV[1] .. 'r')
if not mark then return false end
if not redis.call('SET', ARGV[1] .. 'rl', ARGV[3], 'NX', 'EX', ARGV[4]) then return false end
local c, best = clock_us(), nil
local flat = redis.call('HGETALL', ARGV[1] .. 'hm')
for i = 2, #flat, 2 do
  local o = tonumber(string.match(flat[i], '(%S+)'))
  if not best or o > best then best = o end
end
if not best then return {mark, ''} end
return {mark, string.format('%d', c + best)}
"""

# ARGV: prefix, lease id, lease seconds. The lease renewed if it is still this one's.
_HOLD = """
if redis.call('GET', ARGV[1] .. 'rl') == ARGV[2] then redis.call('EXPIRE', ARGV[1] .. 'rl', ARGV[3]) end
"""

# ARGV: prefix, lease id, the mark the refill claimed, 1 if it counted every event. The mark
# is cleared only if it is the one claimed (a database flushed again meanwhile keeps its new
# one); the lease given back if it is still this one's.
_END = """
if ARGV[4] == '1' and redis.call('GET', ARGV[1] .. 'r') == ARGV[3] then
  redis.call('DEL', ARGV[1] .. 'r')
end
if redis.call('GET', ARGV[1] .. 'rl') == ARGV[2] then redis.call('DEL', ARGV[1] .. 'rl') end
"""

# `horizon` while the database is marked as having lost its data: no window is whole
NOT_WHOLE = datetime.max.replace(tzinfo=UTC)


def _constants(script: str) -> str:
    """`script` with TTL (STATE_TTL), MINUTE and LIFE (the longest a landing's key lives past
    its minute by Redis's clock: STATE_TTL, the future tolerance, a minute, a second) in µs."""
    life = _TTL_US + FUTURE_TOLERANCE_MS * 1000 + _MINUTE_US + 1_000_000
    return (f"local TTL, MINUTE, LIFE = {_TTL_US}, {_MINUTE_US}, {life}\n" + script)


class CounterStoreUnavailable(OSError):
    """The shared counter store could not be reached (an I/O error: flows retry it)."""


def _where(client: redis.Redis) -> str:
    """host:port/db of the client, never its password."""
    kwargs = client.connection_pool.connection_kwargs
    place = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
    return f"redis {place}/{kwargs.get('db', 0)}"


class RedisCounterStore:
    """Real-time counters in one Redis database, shared by every host that lands events."""

    def __init__(self, url: str):
        scheme, _, rest = url.partition("://")
        database = rest.partition("?")[0].partition("/")[2].strip("/")
        if scheme in ("redis", "rediss") and "@" in database:
            # a '/' in the user or password ends the host early: never echo what follows it
            raise ValueError("the counter store URL has a '/' before its '@' (in the user or "
                             "password?); percent-encode it as %2F: redis://:PASSWORD@host:port/db")
        if scheme in ("redis", "rediss") and database and not database.isdigit():
            # redis-py would drop it and use database 0 without a word
            raise ValueError(f"database {database[:40]!r} in the counter store URL is not a "
                             "number; expected redis://host:port/db, e.g. redis://redis:6379/0")
        try:
            self.client = redis.Redis.from_url(url, decode_responses=True,
                                                socket_connect_timeout=10, socket_timeout=30)
        except ValueError as exc:
            raise ValueError(f"bad counter store URL: {exc}; expected redis://host:port/db") from exc
        pool = self.client.connection_pool
        try:  # (no socket yet) an option redis-py does not know ('?timout=5') was a TypeError
            pool.connection_class(**pool.connection_kwargs)  # at the first call, naming no URL
        except TypeError as exc:
            option = str(exc).rpartition("argument ")[2].strip("'")
            raise ValueError(f"the counter store URL has an option redis-py does not know "
                             f"({option[:40]!r}); expected redis://host:port/db, with options "
                             "such as ?socket_timeout=5 after it, or none") from None
        self._record = self.client.register_script(_constants(_RECORD))
        self._read = self.client.register_script(_READ)
        self._horizon = self.client.register_script(_constants(_HORIZON))
        self._claim, self._hold = self.client.register_script(_CLAIM), self.client.register_script(_HOLD)
        self._end = self.client.register_script(_END)
        self._clock_shift_us = 0  # added to Redis's clock by the horizon's scripts (tests)
        # whether the last `commit` found the database marked as having lost its data (new, or
        # back empty: restarted without persistence, flushed, a replica promoted before it had
        # the keys): what the lake already holds is not counted in it (counter_refill.py)
        self.needs_refill = False
        self.lost = False  # whether `horizon` found the database marked so

    def _call(self, work):
        try:
            return work()
        except redis.AuthenticationError as exc:  # said "cannot reach …; check that it runs"
            raise CounterStoreUnavailable(
                f"the counter store ({_where(self.client)}) refused this client's credentials: "
                f"{exc}; give its password in VOICE_MONITOR_COUNTERS as "
                "redis://:PASSWORD@host:port/db (or redis://USER:PASSWORD@… for an ACL user)"
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise CounterStoreUnavailable(
                f"cannot reach the counter store ({_where(self.client)}): {exc}; check that "
                f"Redis is running and VOICE_MONITOR_COUNTERS points at it") from exc
        except redis.ResponseError as exc:
            if "DB index" not in str(exc):
                raise
            db = self.client.connection_pool.connection_kwargs.get("db", 0)
            raise ValueError(f"counter store {_where(self.client)} has no database {db} ({exc}); "
                             "use one the server has (0-15 by default) in "
                             "VOICE_MONITOR_COUNTERS") from None

    def record(self, events: pa.Table, now: datetime) -> int:
        """Count the batch's events that no host counted before; returns how many were new:
        `commit(prepare(events, now))`."""
        return self.commit(self.prepare(events, now))

    def prepare(self, events: pa.Table, now: datetime) -> tuple[int, list[tuple]]:
        """The script's arguments for the batch (nothing sent: `commit` counts them, and moves
        the horizon to `now` even when none is recent enough to count)."""
        now_us = _us(now)
        rows = counted_rows(events, now)
        if rows is None:
            return now_us, []
        args = []
        for event_id, ts, scope, mask in zip(rows.event_id, rows.ts_us.tolist(), rows.scope,
                                             rows.mask.tolist(), strict=True):
            minute = ts // _MINUTE_US
            # each key lives until its event, or the end of its minute, is STATE_TTL old
            seen_ttl = _seconds(ts + _TTL_US - now_us)
            minute_ttl = _seconds((minute + 1) * _MINUTE_US + _TTL_US - now_us)
            args.append((event_id, ts // 3_600_000_000, minute, ts, scope,
                         _CSV[mask], seen_ttl, minute_ttl))
        return now_us, args

    def commit(self, prepared: tuple[int, list[tuple]] | None) -> int:
        """Count a prepared batch's events that no host counted before; how many were new."""
        if prepared is None:
            return 0
        now_us, rows = prepared

        def work() -> list:
            # EVALSHA, loading the script once per server if it is not there yet
            return [self._record(args=[PREFIX, self._clock_shift_us, now_us,
                                       *(v for row in rows[i:i + _CHUNK] for v in row)])
                    for i in range(0, max(len(rows), 1), _CHUNK)]

        answers = self._call(work)
        self.needs_refill = bool(int(answers[-1][1]))
        return sum(int(fresh) for fresh, _ in answers)

    def claim_refill(self, lease: str, seconds: int) -> tuple[str, str, datetime | None] | None:
        """(lease, mark, present) if the database is marked as having lost its data and no other
        process is refilling it (this one is, for `seconds`, then `hold_refill`); else None.
        `present`: the latest landing's `now` moved on by Redis's clock (None if no landing's
        is kept), the moment whose last STATE_TTL the refill must count."""
        found = self._call(lambda: self._claim(args=[PREFIX, self._clock_shift_us, lease, seconds]))
        if found is None:
            return None
        mark, present = found
        return lease, mark, (UNIX_EPOCH + timedelta(microseconds=int(present)) if present else None)

    def hold_refill(self, held: tuple[str, str, datetime | None], seconds: int) -> None:
        """Keep the refill's lease `seconds` more."""
        self._call(lambda: self._hold(args=[PREFIX, held[0], seconds]))

    def end_refill(self, held: tuple[str, str, datetime | None], done: bool) -> None:
        """Give the lease back; `done` (every event counted) also clears the mark it claimed."""
        self._call(lambda: self._end(args=[PREFIX, held[0], held[1], int(done)]))

    def horizon(self) -> datetime | None:
        """The earliest moment from which the counts are whole (`CounterStore.horizon`): the
        fixed part (vm:h) or, for the landings whose keys may not all have expired yet (vm:hm),
        their `now` - STATE_TTL moved on by the time Redis's clock has run since, as keys expire
        by that clock (their lives are counted from a landing's `now`); after that, the end of
        the last minute they counted in, which the clock passes."""
        found = self._call(lambda: self._horizon(args=[PREFIX, self._clock_shift_us]))
        if found is None:
            return None  # no landing yet (or one by a version that kept no horizon)
        self.lost = found == "refill"
        if self.lost:
            return NOT_WHOLE  # the database lost its data: counted from the lake until refilled
        return UNIX_EPOCH + timedelta(microseconds=int(found))

    def window_counts(self, organization_id: str | None, start: datetime, now: datetime) -> dict[str, int]:
        now_us = _us(now)
        start_min, now_min = _us(start) // _MINUTE_US, now_us // _MINUTE_US
        scope = _scope(organization_id)

        # one script call: a consistent snapshot, summed server-side
        sums, after_now = self._call(lambda: self._read(
            args=[PREFIX, scope, start_min, now_min, now_us]))
        totals = dict.fromkeys(METRICS, 0)
        for metric, n in zip(sums[::2], sums[1::2], strict=True):
            totals[metric] += int(n)
        # events of the current minute stamped after `now` are not in the window yet
        for member in after_now:
            metrics, member_scope, _ = member.split(_SEP, 2)
            if organization_id is None or member_scope == scope:
                for metric in metrics.split(","):
                    totals[metric] -= 1
        return totals

    def organizations(self, start: datetime, now: datetime, metrics: tuple[str, ...],
                      minimum: int) -> list[str]:
        """Organizations with at least `minimum` of `metrics` in the minutes from `start` to `now`.

        Like the SQLite store, the sum includes the whole current minute (an upper bound of
        the window's count): callers confirm with `window_counts`.
        """
        minutes = range(_us(start) // _MINUTE_US, _us(now) // _MINUTE_US + 1)

        def work():
            # no MULTI: Redis over its maxmemory (noeviction) refuses every command of a
            # transaction, reads too ("Transaction discarded"); the sum is an upper bound that
            # callers confirm, so a snapshot across the minutes is not needed
            pipe = self.client.pipeline(transaction=False)
            for minute in minutes:
                pipe.smembers(f"{PREFIX}o:{minute}")
            pairs = [(m, s) for m, scopes in zip(minutes, pipe.execute(), strict=True)
                     for s in scopes]
            for minute, scope in pairs:
                pipe.hmget(f"{PREFIX}n:{minute}:{scope}", list(metrics))
            return pairs, pipe.execute()

        pairs, values = self._call(work)
        sums: dict[str, int] = {}
        for (_, scope), counts in zip(pairs, values, strict=True):
            sums[scope] = sums.get(scope, 0) + sum(int(n) for n in counts if n is not None)
        return sorted(s.removeprefix("o:") for s, n in sums.items() if n >= minimum)

    def prune(self, now: datetime) -> int:
        """Nothing to do: every key expires by itself once it is STATE_TTL old."""
        return 0

    def close(self) -> None:
        self.client.close()


def _seconds(us: int) -> int:
    return max(1, math.ceil(us / 1_000_000))


__all__ = ["CounterStoreUnavailable", "RedisCounterStore"]
