DROP TABLE oidc_signing_keys;
