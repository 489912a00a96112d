-- Per-account SSO policy (SPEC §3.4–§3.6). No row = SSO off. Disabling keeps the row (history):
-- enabled and enforced go false, disabled_at is set, the JIT choices stay.
CREATE TABLE sso_settings (
    account_id TEXT NOT NULL PRIMARY KEY REFERENCES accounts(id),
    enabled BOOLEAN NOT NULL,
    enforced BOOLEAN NOT NULL,
    allow_admin_password_login BOOLEAN NOT NULL,
    require_idp_mfa BOOLEAN NOT NULL,
    jit_enabled BOOLEAN NOT NULL,
    jit_default_role TEXT NOT NULL,
    -- JSON array of the account ids a JIT user becomes a member of.
    jit_accounts TEXT NOT NULL,
    -- Entra Conditional Access authentication context id (c1..c99) to request and require.
    entra_auth_context TEXT,
    enabled_at TIMESTAMP,
    disabled_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- Invitations (SPEC §3.5 "Invite users"): a single-use link, stored as the SHA-256 of its token.
CREATE TABLE invitations (
    id TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX invitations_user_idx ON invitations(user_id);
