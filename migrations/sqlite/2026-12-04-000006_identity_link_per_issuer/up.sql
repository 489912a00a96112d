-- A user has at most one identity per issuer (an Entra tenant, a SAML connection), and may have
-- identities at several connections: an account's own IdP must be able to link its user even
-- when another account's IdP linked them first (SPEC §3.8).
DROP INDEX identity_links_user_kind_idx;
CREATE UNIQUE INDEX identity_links_user_issuer_idx ON identity_links(user_id, issuer);
