"""The reference figures, measured in the same run as the broker's rows, per CPU-second of the
process that does the work (this one, or scripts/argon2-bound)."""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from .entra_idp import EntraIdp


def per_cpu_second(fn, budget: float) -> float:
    start = time.process_time()
    n = 0
    while time.process_time() - start < budget:
        fn(n)
        n += 1
    return n / (time.process_time() - start)


def rs256_reference(idp: EntraIdp, token: str, budget: float) -> float:
    public = idp.key.public_key()
    head, payload, sig = token.split(".")
    data, signature = f"{head}.{payload}".encode(), base64.urlsafe_b64decode(sig + "==")
    return per_cpu_second(
        lambda _: public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256()), budget)


def argon2_reference(binary: str, budget: float) -> float:
    """Argon2id verifies per CPU-second of one thread, with the broker's own argon2 crate
    (scripts/argon2-bound)."""
    out = subprocess.run([binary, str(budget)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def saml_reference(flows, idp_metadata: str, sp_entity_id: str, acs_url: str,
                   budget: float) -> tuple[float, str]:
    """python3-saml's Response.is_valid (both signatures, conditions, InResponseTo) per CPU-s."""
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    idp = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata)["idp"]
    settings = OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": sp_entity_id,
               "assertionConsumerService": {"url": acs_url},
               "NameIDFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
        "idp": idp,
        "security": {"wantAssertionsSigned": True, "wantMessagesSigned": True},
    }, sp_validation_only=True)
    url = urllib.parse.urlsplit(acs_url)
    error = ""

    def validate(i: int) -> None:
        nonlocal error
        flow = flows[i % len(flows)]
        response = OneLogin_Saml2_Response(settings, flow.saml_response)
        request_data = {"https": "off", "http_host": url.hostname, "server_port": url.port,
                        "script_name": url.path, "post_data": {"SAMLResponse": flow.saml_response}}
        if not response.is_valid(request_data, flow.request_id, raise_exceptions=False):
            error = error or str(response.get_error())

    rate = per_cpu_second(validate, budget)
    return rate, error
