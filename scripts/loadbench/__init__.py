"""Pieces of scripts/load.py: the broker process, an HTTP load generator, an Entra-shaped IdP
that mints tokens, and the references measured in the same run."""

HOST = "127.0.0.1"
TENANT = "1d0c4b7a-5e6f-4a3b-9c8d-00000000a11e"
CLIENT_ID = "6f1e2d3c-4b5a-4987-8a6b-5c4d3e2f1a0b"
DEMO_PASSWORD = "demo-password-123"



