-- Several accounts may hold pending claims on one domain; only the verified claim is unique
-- (SPEC §2 Domain, issue 10 "Squatting"): an unverified claim never blocks another account.
-- SQLite cannot drop the inline UNIQUE of the first migration, so both backends rebuild the table.
CREATE TABLE domains_rebuilt (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    domain TEXT NOT NULL,
    verified BOOLEAN NOT NULL,
    verification_token TEXT NOT NULL,
    verified_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO domains_rebuilt (id, account_id, domain, verified, verification_token, verified_at, created_at)
    SELECT id, account_id, domain, verified, verification_token, verified_at, created_at FROM domains;
DROP TABLE domains;
ALTER TABLE domains_rebuilt RENAME TO domains;
CREATE UNIQUE INDEX domains_domain_account_idx ON domains(domain, account_id);
-- The service checks "first to verify wins" in a transaction; this index settles a race.
CREATE UNIQUE INDEX domains_verified_domain_idx ON domains(domain) WHERE verified;
