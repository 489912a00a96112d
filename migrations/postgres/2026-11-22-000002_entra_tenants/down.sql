DROP TABLE approved_tenants;
DROP TABLE connections;
