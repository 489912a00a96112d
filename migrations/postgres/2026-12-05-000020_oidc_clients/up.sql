-- Portal applications registered with the broker as OpenID Provider (SPEC §7.1). The id is the
-- client_id. URIs are JSON arrays of exact strings; accounts a JSON array of account ids (empty:
-- any account). A confidential client keeps only the SHA-256 of its secret; a public one none.
CREATE TABLE oidc_clients (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    client_type TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    accounts TEXT NOT NULL,
    secret_hash TEXT,
    created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITHOUT TIME ZONE NOT NULL
);
