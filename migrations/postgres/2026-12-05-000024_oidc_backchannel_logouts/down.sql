DROP TABLE oidc_backchannel_logouts;
