-- Whom enforcement reaches (SPEC §3.5): `all` the account's users, or only those whose email is in
-- the account's verified domains (`domains`).
ALTER TABLE sso_settings ADD COLUMN enforcement_scope TEXT NOT NULL DEFAULT 'all';
