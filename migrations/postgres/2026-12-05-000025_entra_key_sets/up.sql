-- The last good signing-key set (JWKS) of each Entra tenant, shared by every instance: an
-- instance that starts while Microsoft is unreachable still validates tokens with it. The
-- last refresh for an unknown key id is kept here too, so the one-refresh-per-five-minutes
-- limit per tenant holds across instances (issue 13).
CREATE TABLE entra_key_sets (
    tenant_id TEXT NOT NULL PRIMARY KEY,
    jwks TEXT NOT NULL,
    fetched_at TIMESTAMP NOT NULL,
    refreshed_at TIMESTAMP
);
