"""A self-signed certificate for HTTPS on the LAN (browsers only give the microphone to secure pages)."""
from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from pathlib import Path

from penny.errors import ConfigError
from penny.private import private_dir, write_private


def lan_ip() -> str | None:
    """This machine's address on the LAN (no packet is sent: UDP connect only picks a route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        return None if ip.startswith("127.") else ip
    except OSError:
        return None


def _names(host: str) -> tuple[list[str], list[str]]:
    dns, ips = ["localhost", socket.gethostname()], ["127.0.0.1", "::1"]
    for h in (host, lan_ip()):
        if not h or h in ("0.0.0.0", "::"):
            continue
        try:
            ipaddress.ip_address(h)
            ips.append(h)
        except ValueError:
            dns.append(h)
    return list(dict.fromkeys(dns)), list(dict.fromkeys(ips))


def ensure_self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    """(cert, key) in `folder`, created on first use and reused after (so a phone trusts it once)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    private_dir(folder)
    dns, ips = _names(host)
    try:
        _with_cryptography(cert, key, dns, ips)
    except ImportError:
        _with_openssl(cert, key, dns, ips)
    return cert, key


def _with_cryptography(cert: Path, key: Path, dns: list[str], ips: list[str]) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    pkey = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Penny (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pkey.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=825))
         .add_extension(x509.SubjectAlternativeName(san), critical=False)
         .sign(pkey, hashes.SHA256()))
    write_private(key, pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    write_private(cert, c.public_bytes(serialization.Encoding.PEM))


def _with_openssl(cert: Path, key: Path, dns: list[str], ips: list[str]) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise ConfigError("--self-signed needs the `openssl` command or the `cryptography` package.",
                          hint="Install one (apt install openssl, or pip install cryptography), "
                               "or pass --tls-cert/--tls-key.")
    san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
    cmd = [exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-days", "825", "-subj", "/CN=Penny (self-signed)", "-addext", f"subjectAltName={san}",
           "-keyout", str(key), "-out", str(cert)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, umask=0o077)  # key and cert: 600
    if done.returncode != 0:
        raise ConfigError(f"openssl could not create a certificate: {done.stderr.strip()[-300:]}")
