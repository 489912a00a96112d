-- SAML assertion ids seen at the ACS (SPEC §5: accepted once), kept until the assertion's
-- NotOnOrAfter so that every instance refuses a replay. The key is the SHA-256 of issuer and id.
CREATE TABLE saml_replays (
    assertion_key TEXT NOT NULL PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX saml_replays_expires_idx ON saml_replays(expires_at);
