#include "mailbox_redis/mailbox_script.hpp"

#include <charconv>

namespace tether::detail {
namespace {

// Lua 5.1 inside Redis 7. `now` is Redis' clock in ms (13 digits: exact in a double, and
// printed whole by tostring). HMGET gives false, not nil, for a missing field.
constexpr std::string_view kScript = R"LUA(
local op, P, deadline = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A call whose caller has given up (it timed out while the command sat in a stalled Redis'
-- socket buffer) does nothing: its caller answered Unavailable, so nothing may happen.
if deadline > 0 and now > deadline then return 'late' end

local function parse_waiter(e)
  if not e then return nil end
  return string.match(e, '^(%d+)|([^|]+)|(%d+)$')
end

-- The outcome of a post that went in transit, for its poster (a message, and a key its loop
-- re-checks in case the message was lost).
local function tell(poster, outcome)
  if not poster or poster == '' then return end
  local chan, tok = string.match(poster, '^([^|]+)|(%d+)$')
  if not chan then return end
  redis.call('SET', P .. 'r:' .. poster, outcome, 'PX', 600000)
  redis.call('PUBLISH', chan, 'r|' .. tok .. '|' .. outcome)
end

-- Hands `value` to the oldest waiter of `id` whose wait is not over, or stores it until
-- `expires`. Nothing is written before the waiter is found: Redis refuses a script at
-- maxmemory only at its first write of new data, and lets one that has written go on, so a
-- post's first write must be the one that stores (see 'post').
local function place(id, value, expires, poster, transit_ms)
  if expires <= now then
    redis.call('ZREM', P .. 'ids', id)
    return 'expired'
  end
  local wkey = P .. 'w:' .. id
  local k = 0
  while true do
    local e = redis.call('LINDEX', wkey, k)
    if not e then break end
    local untl, chan, tok = parse_waiter(e)
    if untl and tonumber(untl) > now then
      redis.call('HSET', P .. 't:' .. id, 'value', value, 'expires', expires, 'waiter', e,
                 'poster', poster)
      redis.call('LTRIM', wkey, k + 1, -1)  -- it, and the waits over before it, leave
      redis.call('ZADD', P .. 'transits', now + transit_ms, id)
      redis.call('ZADD', P .. 'ids', expires, id)
      local okey = P .. 'o:' .. chan
      redis.call('SADD', okey, tok .. '|' .. id)
      redis.call('PEXPIRE', okey, 3600000)  -- a loop that is gone leaves nothing for long
      redis.call('PUBLISH', chan, 'o|' .. tok .. '|' .. #id .. '|' .. id .. value)
      return 'offered'
    end
    k = k + 1
  end
  redis.call('SET', P .. 'v:' .. id, value, 'PX', expires - now)
  if k > 0 then redis.call('DEL', wkey) end  -- only waits that were over
  redis.call('ZADD', P .. 'ids', expires, id)
  return 'stored'
end

-- Takes `id` out of transit when the waiter <chan>|<tok> holds it: {waiter, value, expires,
-- poster}, or nil.
local function untransit(id, chan, tok)
  redis.call('SREM', P .. 'o:' .. chan, tok .. '|' .. id)
  local tkey = P .. 't:' .. id
  local h = redis.call('HMGET', tkey, 'waiter', 'value', 'expires', 'poster')
  local _, wchan, wtok = parse_waiter(h[1])
  if wchan ~= chan or wtok ~= tok then return nil end
  redis.call('DEL', tkey)
  redis.call('ZREM', P .. 'transits', id)
  return h
end

-- A value back from transit goes to the next waiter, or is stored (its poster hears so).
local function back(id, h, transit_ms)
  local r = place(id, h[2], tonumber(h[3]), h[4], transit_ms)
  if r ~= 'offered' then tell(h[4], 'stored') end
  return r
end

if op == 'post' then
  local id, value, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6])
  local max_ids, transit_ms, poster = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
  if redis.call('EXISTS', P .. 'v:' .. id, P .. 't:' .. id) > 0 then return 'conflict' end
  -- Counted without writing (place): past maxmemory a post fails before it changes anything.
  if redis.call('ZCOUNT', P .. 'ids', '(' .. now, '+inf') >= max_ids then return 'full' end
  local r = place(id, value, now + ttl, poster, transit_ms)
  redis.call('ZREMRANGEBYSCORE', P .. 'ids', '-inf', now)
  return r
elseif op == 'wait' then
  local id, park, wait_ms = ARGV[4], ARGV[5] == '1', tonumber(ARGV[6])
  local chan, tok, max_waiters, transit_ms = ARGV[7], ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
  local vkey = P .. 'v:' .. id
  local v = redis.call('GET', vkey)
  if v then
    -- Taken, but in transit (claimed by this wait) until its loop acknowledges: a reply
    -- that never arrives, or a client that left, loses nothing.
    local expires = redis.call('ZSCORE', P .. 'ids', id) or (now + 1000)
    redis.call('DEL', vkey)
    redis.call('HSET', P .. 't:' .. id, 'value', v, 'expires', expires,
               'waiter', (now + transit_ms) .. '|' .. chan .. '|' .. tok, 'poster', '', 'claimed', '1')
    redis.call('ZADD', P .. 'transits', now + transit_ms, id)
    return {'value', v}
  end
  if not park then return {'empty'} end
  local wkey = P .. 'w:' .. id
  local e = (now + wait_ms) .. '|' .. chan .. '|' .. tok
  local over = {}  -- waits that are over, taken out after the first write (as in place)
  if redis.call('LLEN', wkey) >= max_waiters then
    local live = 0
    for _, x in ipairs(redis.call('LRANGE', wkey, 0, -1)) do
      local untl = parse_waiter(x)
      if untl and tonumber(untl) > now then live = live + 1 else table.insert(over, x) end
    end
    if live >= max_waiters then return {'refused'} end
  end
  redis.call('RPUSH', wkey, e)  -- the first write: past maxmemory the wait parks nowhere
  for _, x in ipairs(over) do redis.call('LREM', wkey, 1, x) end
  if redis.call('PTTL', wkey) < wait_ms + 1000 then redis.call('PEXPIRE', wkey, wait_ms + 1000) end
  return {'parked', e}
elseif op == 'claim' then
  -- The waiter's loop takes an offered value before its continuation sees it: a loop that
  -- stalled past the transit timeout finds the value gone (recovered) and does nothing.
  local id, chan, tok, transit_ms = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
  local tkey = P .. 't:' .. id
  local h = redis.call('HMGET', tkey, 'waiter', 'claimed')
  local _, wchan, wtok = parse_waiter(h[1])
  if wchan ~= chan or wtok ~= tok or h[2] then return 0 end
  -- The first write frees (ZREM), so a claim goes through at maxmemory: refused, the value
  -- would sit in transit until its timeout while its waiter is told to come back.
  redis.call('ZREM', P .. 'transits', id)
  redis.call('HSET', tkey, 'claimed', '1')
  redis.call('ZADD', P .. 'transits', now + transit_ms, id)
  return 1
elseif op == 'ack' then
  local id = ARGV[4]
  local h = untransit(id, ARGV[5], ARGV[6])
  if not h then return 0 end
  redis.call('ZREM', P .. 'ids', id)
  tell(h[4], 'delivered')
  return 1
elseif op == 'refuse' then
  local id = ARGV[4]
  local h = untransit(id, ARGV[5], ARGV[6])
  if not h then return 'stale' end
  return back(id, h, tonumber(ARGV[7]))
elseif op == 'recover' then
  local transit_ms, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
  local ids = redis.call('ZRANGEBYSCORE', P .. 'transits', '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    local tkey = P .. 't:' .. id
    local h = redis.call('HMGET', tkey, 'waiter', 'value', 'expires', 'poster')
    redis.call('ZREM', P .. 'transits', id)
    if h[2] then
      local _, chan, tok = parse_waiter(h[1])
      if chan then redis.call('SREM', P .. 'o:' .. chan, tok .. '|' .. id) end
      redis.call('DEL', tkey)
      back(id, h, transit_ms)
    end
  end
  return #ids
elseif op == 'offers' then
  local chan, out = ARGV[4], {}
  local okey = P .. 'o:' .. chan
  for _, m in ipairs(redis.call('SMEMBERS', okey)) do
    local tok, id = string.match(m, '^(%d+)|(.*)$')
    local h = {false, false, false}
    if tok then h = redis.call('HMGET', P .. 't:' .. id, 'waiter', 'value', 'claimed') end
    local _, wchan, wtok = parse_waiter(h[1])
    if wchan == chan and wtok == tok then
      if not h[3] then
        table.insert(out, tok)
        table.insert(out, id)
        table.insert(out, h[2])
      end
    else
      redis.call('SREM', okey, m)
    end
  end
  return out
elseif op == 'drop' then
  local id = ARGV[4]
  local n = redis.call('DEL', P .. 'v:' .. id)
  if n > 0 then redis.call('ZREM', P .. 'ids', id) end
  return n
end
return redis.error_reply('ERR tether mailbox: unknown operation')
)LUA";

bool take_number(std::string_view& s, uint64_t& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  if (ec != std::errc() || p == end || *p != '|') return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()) + 1);
  return true;
}

}  // namespace

std::string_view mailbox_script() {
  return kScript;
}

std::optional<MailboxMessage> parse_mailbox_message(std::string_view text) {
  if (text.size() < 2 || text[1] != '|') return std::nullopt;
  const char kind = text[0];
  text.remove_prefix(2);
  MailboxMessage m;
  if (!take_number(text, m.token)) return std::nullopt;
  if (kind == 'o') {
    uint64_t id_len = 0;
    if (!take_number(text, id_len) || id_len > text.size()) return std::nullopt;
    m.kind = MailboxMessage::Kind::offer;
    m.id.assign(text.substr(0, id_len));
    m.payload.assign(text.substr(id_len));
    return m;
  }
  if (kind == 'r') {
    m.kind = MailboxMessage::Kind::outcome;
    m.payload.assign(text);
    return m;
  }
  return std::nullopt;
}

}  // namespace tether::detail
