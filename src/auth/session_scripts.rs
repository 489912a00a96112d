//! The Lua scripts of the Redis session store (`session_store`): each write checks "not
//! revoked" in the same atomic step as it writes.

use std::sync::LazyLock;

/// Writes a session record (`KEYS[1]`) and adds it to its user's index (`KEYS[2]`, optional);
/// unless `ARGV[4]` is `1` (a new session), only when the stored record exists and is not
/// revoked, checked in the same atomic step.
/// ARGV: record JSON, TTL seconds, session hash, create flag.
const WRITE_SCRIPT: &str = r"
if ARGV[4] ~= '1' then
  local raw = redis.call('GET', KEYS[1])
  if not raw then return 0 end
  local ok, stored = pcall(cjson.decode, raw)
  if not ok or type(stored) ~= 'table' or stored.revoked ~= false then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 1
";

/// Replaces a session record (`KEYS[1]`) only if it still holds exactly `ARGV[1]` (compare and
/// set: a concurrent write or revocation wins), and refreshes its user's index (`KEYS[2]`).
/// ARGV: expected record JSON, new record JSON, TTL seconds, session hash.
const TOUCH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
if KEYS[2] then
  redis.call('SADD', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return 1
";

/// Revokes every session listed in a user's index (`KEYS[1]`) and deletes the index, in one
/// atomic step; returns how many were live. The session keys are `ARGV[1] .. hash` (derived
/// inside the script, so this needs a single Redis, not a cluster).
/// ARGV: session key prefix, now (unix seconds), grace seconds.
const REVOKE_SCRIPT: &str = r"
local revoked = 0
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. hash
  local raw = redis.call('GET', key)
  if raw then
    local ok, stored = pcall(cjson.decode, raw)
    if ok and type(stored) == 'table' then
      if stored.revoked == false then revoked = revoked + 1 end
      local expires_at = tonumber(stored.expires_at) or 0
      local ttl = math.floor(math.max(expires_at - tonumber(ARGV[2]), 0) + tonumber(ARGV[3]))
      local record = { user_id = stored.user_id, state = {}, expires_at = expires_at, revoked = true }
      redis.call('SET', key, cjson.encode(record), 'EX', ttl)
    end
  end
end
redis.call('DEL', KEYS[1])
return revoked
";

pub(super) static WRITE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(WRITE_SCRIPT));
pub(super) static TOUCH: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(TOUCH_SCRIPT));
pub(super) static REVOKE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(REVOKE_SCRIPT));
