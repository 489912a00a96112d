DROP TABLE invitations;
DROP TABLE sso_settings;
