ALTER TABLE accounts DROP COLUMN sso_available;
