DROP TABLE oidc_refresh_tokens;
DROP TABLE oidc_refresh_families;
DROP TABLE oidc_authorization_codes;
DROP TABLE oidc_authorization_requests;
