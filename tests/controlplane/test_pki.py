"""pki: the certificates the control plane and the training operator's webhook are given, checked offline."""

from __future__ import annotations

import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from controlplane import pki, training_operator


def _verify(issuer: x509.Certificate, cert: x509.Certificate) -> None:
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    else:
        assert isinstance(key, ec.EllipticCurvePublicKey) and cert.signature_hash_algorithm is not None
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))


@pytest.mark.parametrize(("key_type", "marker"), [("ec", b"BEGIN PRIVATE KEY"), ("rsa", b"BEGIN RSA PRIVATE KEY")])
def test_a_ca_signs_serving_certificates_with_keys_of_its_own_type(
    tmp_path: pathlib.Path, key_type: pki.KeyType, marker: bytes
) -> None:
    authority = pki.ca(tmp_path, name="test-ca", key_type=key_type)
    server = pki.serving(authority, tmp_path, "server", dns_names=("svc.ns.svc",))
    for pair in (authority, server):
        assert pair.key.read_bytes().startswith(b"-----" + marker)
        assert pair.key.stat().st_mode & 0o777 == 0o600
    ca_cert = x509.load_pem_x509_certificate(authority.cert.read_bytes())
    server_cert = x509.load_pem_x509_certificate(server.cert.read_bytes())
    _verify(ca_cert, server_cert)
    names = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "svc.ns.svc"]
    assert pki.ca(tmp_path, name="test-ca", key_type=key_type) == authority  # kept, not made again
    assert x509.load_pem_x509_certificate(authority.cert.read_bytes()) == ca_cert


def test_the_operators_certificates_are_what_its_rotator_accepts(tmp_path: pathlib.Path) -> None:
    certs = training_operator.certificates(tmp_path)
    # x509.ParsePKCS1PrivateKey: RSA in PKCS #1 form.
    assert certs["ca.key"].startswith(b"-----BEGIN RSA PRIVATE KEY")
    ca_cert = x509.load_pem_x509_certificate(certs["ca.crt"])
    # The rotator checks its CA for CA_NAME, and the serving certificate for <service>.<namespace>.svc.
    ca_names = ca_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ca_names.get_values_for_type(x509.DNSName) == [training_operator.CA_NAME]
    organization = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [attribute.value for attribute in organization] == ["training-operator"]
    server_cert = x509.load_pem_x509_certificate(certs["tls.crt"])
    _verify(ca_cert, server_cert)
    names = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "training-operator.kubeflow.svc" in names.get_values_for_type(x509.DNSName)
    assert training_operator.certificates(tmp_path) == certs
