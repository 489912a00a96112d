ALTER TABLE sso_settings DROP COLUMN enforcement_scope;
