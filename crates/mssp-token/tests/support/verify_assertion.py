#!/usr/bin/env python3
"""Verifies a client assertion made by mssp-token with an independent JWT library (PyJWT +
cryptography), as Entra would: PS256 signature with the certificate's key, x5t#S256 =
base64url(SHA-256(certificate DER)), aud = the token endpoint, iss = sub = client ID, a jti,
and a lifetime of at most 10 minutes.

usage: verify_assertion.py CERT_PEM TOKEN_URL CLIENT_ID < assertion
Prints the verified claims as JSON; exits non-zero with the reason otherwise."""
import base64
import hashlib
import json
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def main():
    cert_path, token_url, client_id = sys.argv[1:4]
    assertion = sys.stdin.read().strip()
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    der = cert.public_bytes(Encoding.DER)
    want_x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "PS256", header
    assert header.get("typ") == "JWT", header
    assert header["x5t#S256"] == want_x5t, (header, want_x5t)
    claims = jwt.decode(
        assertion,
        cert.public_key(),
        algorithms=["PS256"],
        audience=token_url,
        issuer=client_id,
        options={"require": ["exp", "nbf", "iat", "jti", "sub", "iss", "aud"]},
    )
    assert claims["sub"] == client_id, claims
    assert 0 < claims["exp"] - claims["nbf"] <= 600, claims
    assert abs(claims["iat"] - time.time()) < 120, claims
    print(json.dumps(claims))


if __name__ == "__main__":
    main()
