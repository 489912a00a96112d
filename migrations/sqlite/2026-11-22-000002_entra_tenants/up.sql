-- Identity-provider connections of an account, and Entra tenants approved through admin consent
-- (SPEC §2 Connection, Approved tenant).
CREATE TABLE connections (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX connections_account_idx ON connections(account_id);

CREATE TABLE approved_tenants (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    verified_domains TEXT NOT NULL,
    status TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL,
    last_checked_at TIMESTAMP NOT NULL,
    UNIQUE (account_id, tenant_id)
);
CREATE INDEX approved_tenants_tenant_idx ON approved_tenants(tenant_id);
