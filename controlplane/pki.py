"""The control plane's certificates and keys: CAs, serving certificates, the service-account key pair.

Everything is made once per state folder and kept (0600 keys): a restarted control plane keeps
its identity, so kubeconfigs and tokens handed out before still work. Serving certificates name
127.0.0.1 and localhost only, besides the in-cluster names the API server's own clients expect.
Keys are EC P-256, or RSA for a CA whose reader takes nothing else (the training operator's).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for a workshop machine that keeps its control plane for a season; it is loopback-only.
VALIDITY = datetime.timedelta(days=365)
# The usual size of an RSA key today; RSA only where a reader insists on it, so its cost hardly matters.
RSA_BITS = 2048

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KeyType = Literal["ec", "rsa"]


@dataclasses.dataclass(frozen=True)
class Pair:
    """A certificate and its key, as files."""

    cert: pathlib.Path
    key: pathlib.Path


def _write_key(path: pathlib.Path, key: Key) -> None:
    # RSA keys in the traditional PKCS #1 form ("RSA PRIVATE KEY"): the reader that needs RSA (the training
    # operator's cert rotator) parses them with Go's x509.ParsePKCS1PrivateKey, which refuses PKCS #8.
    if isinstance(key, rsa.RSAPrivateKey):
        form = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        form = serialization.PrivateFormat.PKCS8
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()))


def _load_key(path: pathlib.Path) -> Key:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path} is neither an EC nor an RSA private key")
    return key


def _new_key(key_type: KeyType) -> Key:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return ec.generate_private_key(ec.SECP256R1())


def ca(
    folder: pathlib.Path,
    *,
    name: str = "kubeflow-mnist-controlplane-ca",
    organization: str = "",
    key_type: KeyType = "ec",
) -> Pair:
    """The CA `name` (of `organization`, when given) in `folder`, made on first call with a `key_type` key.

    The certificates it signs get keys of the same type. It names itself in its subjectAltName too:
    Go checks a name against that alone, and a reader may check its CA for its name (the operator's does).
    """
    pair = Pair(folder / "ca.crt", folder / "ca.key")
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    key = _new_key(key_type)
    names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    subject = x509.Name([*names, x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def serving(authority: Pair, folder: pathlib.Path, name: str, *, dns_names: tuple[str, ...] = ()) -> Pair:
    """A server certificate `name` signed by `authority` for 127.0.0.1, localhost and `dns_names`, with a key of
    the authority's type (see `ca`)."""
    pair = Pair(folder / f"{name}.crt", folder / f"{name}.key")
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    authority_key = _load_key(authority.key)
    key = _new_key("rsa" if isinstance(authority_key, rsa.RSAPrivateKey) else "ec")
    ca_cert = x509.load_pem_x509_certificate(authority.cert.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
        *(x509.DNSName(dns) for dns in dns_names),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(authority_key, hashes.SHA256())
    )
    _write_key(pair.key, key)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def signing_key(folder: pathlib.Path, name: str = "service-account") -> Pair:
    """A key pair for signing service-account tokens (`cert` holds the public key)."""
    pair = Pair(folder / f"{name}.pub", folder / f"{name}.key")
    if pair.cert.is_file() and pair.key.is_file():
        return pair
    key = _new_key("ec")
    _write_key(pair.key, key)
    pair.cert.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pair
