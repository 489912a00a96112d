DROP INDEX identity_links_user_issuer_idx;
CREATE UNIQUE INDEX identity_links_user_kind_idx ON identity_links(user_id, kind);
