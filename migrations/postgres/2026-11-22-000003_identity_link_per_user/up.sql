-- A user has at most one identity of each kind (an Entra identity, a SAML identity).
CREATE UNIQUE INDEX identity_links_user_kind_idx ON identity_links(user_id, kind);
