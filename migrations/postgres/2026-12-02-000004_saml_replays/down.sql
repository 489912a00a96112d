DROP TABLE saml_replays;
