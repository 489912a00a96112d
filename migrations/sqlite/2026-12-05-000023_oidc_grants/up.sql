-- The OpenID Provider's grants (SPEC §7.2), all in the database so that a code issued by one
-- instance is redeemed on another. Codes and refresh tokens are kept only as SHA-256 hashes.
--
-- An authorization request waiting for a sign-in (the browser signs in on the broker's pages,
-- then resumes it at /oauth2/authorize/continue?request=<id>); id_hash is the id's SHA-256.
CREATE TABLE oidc_authorization_requests (
    id_hash TEXT NOT NULL PRIMARY KEY,
    client_id TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_authorization_requests_expires_idx ON oidc_authorization_requests(expires_at);

-- An authorization code: 60 s, single use, bound to its client, redirect_uri, PKCE challenge
-- and the sign-in it was issued for: the session's sid and auth_time, and in sign_in (JSON)
-- the auth method, amr, idp, mfa and the connection or tenant that admitted it (re-checked
-- under SPEC §3.8 on every refresh).
CREATE TABLE oidc_authorization_codes (
    code_hash TEXT NOT NULL PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    nonce TEXT,
    scope TEXT NOT NULL,
    user_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    sign_in TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX oidc_authorization_codes_expires_idx ON oidc_authorization_codes(expires_at);

-- Everything descended from one code: its refresh tokens and the access tokens minted with
-- them (their jti names the family). Revoked as a whole on reuse, logout or withdrawn trust.
CREATE TABLE oidc_refresh_families (
    id TEXT NOT NULL PRIMARY KEY,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    scope TEXT NOT NULL,
    offline_access BOOLEAN NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    sign_in TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX oidc_refresh_families_code_idx ON oidc_refresh_families(code_hash);
CREATE INDEX oidc_refresh_families_client_idx ON oidc_refresh_families(client_id);
CREATE INDEX oidc_refresh_families_user_idx ON oidc_refresh_families(user_id);

-- One refresh token of a family. Rotation spends it; a spent token presented again revokes
-- the family.
CREATE TABLE oidc_refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    family_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP,
    FOREIGN KEY (family_id) REFERENCES oidc_refresh_families(id) ON DELETE CASCADE
);
CREATE INDEX oidc_refresh_tokens_family_idx ON oidc_refresh_tokens(family_id);
