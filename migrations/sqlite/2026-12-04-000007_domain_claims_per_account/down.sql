-- Back to one claim per domain: contested pending claims are dropped.
DELETE FROM domains WHERE NOT verified
    AND domain IN (SELECT domain FROM domains GROUP BY domain HAVING COUNT(*) > 1);
CREATE TABLE domains_rebuilt (
    id TEXT NOT NULL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    domain TEXT NOT NULL UNIQUE,
    verified BOOLEAN NOT NULL,
    verification_token TEXT NOT NULL,
    verified_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO domains_rebuilt (id, account_id, domain, verified, verification_token, verified_at, created_at)
    SELECT id, account_id, domain, verified, verification_token, verified_at, created_at FROM domains;
DROP TABLE domains;
ALTER TABLE domains_rebuilt RENAME TO domains;
