-- The OpenID Provider's RS256 signing keys (SPEC §7.4), shared by every instance. The key with the
-- highest generation signs; a generation is unique, so two instances rotating (or starting) at
-- once cannot both add a signing key: the second insert fails and that instance uses the first's.
-- The private key (PKCS#1 DER) is sealed with the installation key. A replaced key keeps
-- retired_at and stays in the JWKS until published_until (every token it signed has expired).
CREATE TABLE oidc_signing_keys (
    kid TEXT NOT NULL PRIMARY KEY,
    generation BIGINT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    published_until TIMESTAMP
);
