"""Redis store: shared state for several bridge instances, with Redis's own expiry."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import redis

from bridge.errors import StoreError
from bridge.store.base import Change

# INCRBY and the first expiry in one step, so a crash between them cannot leave a
# counter that never expires (a lockout that never ends).
_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""
# Around a Change's Lua body: read every key with its expiry, run the body, write what it
# says; one script, so nothing else runs on the server in between. Times are the caller's
# clock (ARGV[1]), as SQLite's are; expiry goes back to Redis as a time to live.
_UPDATE = """
local function change(entries, now, args, writes)
%s
end
local now = tonumber(ARGV[1])
local entries = {}
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if raw then
    local ttl = redis.call('PTTL', key)
    entries[i] = {value = cjson.decode(raw), expires = now + (ttl < 0 and 315360000000 or ttl) / 1000}
  else
    entries[i] = false
  end
end
local writes = {}
local result = change(entries, now, cjson.decode(ARGV[2]), writes)
for i, entry in pairs(writes) do
  if entry then
    local ttl = math.max(1, math.floor((entry.expires - now) * 1000))
    redis.call('SET', KEYS[i], cjson.encode(entry.value), 'PX', ttl)
  else
    redis.call('DEL', KEYS[i])
  end
end
return cjson.encode(result)
"""
_DEFAULT_PREFIX = "soap-bridge:"


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """Keys under one prefix; records in sorted sets scored by time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = query.pop("prefix", [_DEFAULT_PREFIX])[0]
        self.url = urlunsplit(parts._replace(query=""))
        try:
            # Short timeouts: a store that does not answer must fail a login quickly
            # (closed), not hold a worker; the pool reconnects by itself when Redis returns.
            self._redis = redis.Redis.from_url(
                self.url, socket_timeout=1.0, socket_connect_timeout=1.0,
                health_check_interval=10, decode_responses=True,
            )
            self._incr = self._redis.register_script(_INCR)
            self._scripts: dict[str, Any] = {}
        except (ValueError, redis.RedisError) as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {exc}") from exc

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"  # never the password

    def _call(self, what: str, *args: Any) -> Any:
        try:
            return getattr(self._redis, what)(*args)
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {type(exc).__name__}") from exc

    def ping(self) -> bool:
        try:
            # A read of a key under the prefix, not PING: a Redis still loading its data, or
            # whose user may not read these keys, answers PING but not the bridge.
            self._redis.get(self.prefix + "ping")
            return True
        except redis.RedisError:
            return False

    def get(self, key: str) -> Any | None:
        value = self._call("get", self.prefix + key)
        return None if value is None else json.loads(value)

    def get_many(self, keys: Sequence[str]) -> list[Any | None]:
        if not keys:
            return []
        values = self._call("mget", [self.prefix + key for key in keys])
        return [None if value is None else json.loads(value) for value in values]

    def set(self, key: str, value: Any, ttl: float) -> None:
        self._call("set", self.prefix + key, json.dumps(value, separators=(",", ":")),
                   None, _milliseconds(ttl))

    def delete(self, key: str) -> None:
        self._call("delete", self.prefix + key)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        try:
            return int(self._incr(keys=[self.prefix + key], args=[amount, _milliseconds(ttl)]))
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {type(exc).__name__}") from exc

    def update(self, keys: Sequence[str], change: Change, args: Sequence[Any]) -> Any:
        script = self._scripts.get(change.name)
        if script is None:
            script = self._scripts[change.name] = self._redis.register_script(_UPDATE % change.lua)
        try:
            answer = script(keys=[self.prefix + key for key in keys],
                            args=[repr(time.time()), json.dumps(list(args))])
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {type(exc).__name__}") from exc
        return json.loads(answer)

    def counters(self, prefix: str) -> dict[str, int]:
        pattern = _glob_escape(self.prefix + prefix) + "*"
        keys = [key for key in self._scan(pattern)]
        if not keys:
            return {}
        values = self._call("mget", keys)
        strip = len(self.prefix)
        return {key[strip:]: int(value) for key, value in zip(keys, values, strict=True)
                if value is not None and value.lstrip("-").isdigit()}

    def _scan(self, pattern: str) -> list[str]:
        try:
            return list(self._redis.scan_iter(match=pattern, count=500))
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {type(exc).__name__}") from exc

    def add_record(self, stream: str, record: dict[str, Any], retain: float) -> None:
        now = time.time()
        key = f"{self.prefix}records:{stream}"
        # Scored by expiry, so trimming is one range removal; the random tag keeps two
        # identical records (same instant, same content) both.
        member = json.dumps({"a": now, "r": record, "n": secrets.token_hex(4)},
                            separators=(",", ":"))
        try:
            pipe = self._redis.pipeline()
            pipe.zadd(key, {member: now + retain})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.pttl(key)
            remaining = pipe.execute()[-1]
            if remaining < _milliseconds(retain):
                self._redis.pexpire(key, _milliseconds(retain))
        except redis.RedisError as exc:
            raise StoreError(f"Redis store {self._safe_url()}: {type(exc).__name__}") from exc

    def records(self, stream: str, since: float) -> list[dict[str, Any]]:
        members = self._call("zrangebyscore", f"{self.prefix}records:{stream}", time.time(), "+inf")
        entries = [json.loads(member) for member in members]
        return [entry["r"] for entry in sorted(entries, key=lambda e: e["a"]) if entry["a"] >= since]

    def close(self) -> None:
        self._redis.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
