-- Back-Channel Logout 1.0 deliveries (SPEC §7.2): one row per client and ended broker session
-- (sid), queued in the transaction that ends the session's grants and delivered by a
-- background worker with bounded retries. The unique (client_id, sid) makes a session that is
-- ended twice (logout, then the purge) notify each client once.
CREATE TABLE oidc_backchannel_logouts (
    id TEXT NOT NULL PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    logout_uri TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    delivered_at TIMESTAMP WITHOUT TIME ZONE,
    abandoned_at TIMESTAMP WITHOUT TIME ZONE,
    last_error TEXT,
    UNIQUE (client_id, sid)
);
CREATE INDEX oidc_backchannel_logouts_due_idx ON oidc_backchannel_logouts(next_attempt_at);
