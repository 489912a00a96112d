DROP TABLE entra_key_sets;
