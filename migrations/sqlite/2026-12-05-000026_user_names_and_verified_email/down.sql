ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE users DROP COLUMN family_name;
ALTER TABLE users DROP COLUMN given_name;
