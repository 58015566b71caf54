"""The broker with TLS, as production runs it: ``hall broker-config --tls`` writes a listener
that a real mosquitto accepts, a node with ``[broker] ca_file`` connects to it over TLS and
logs in, and nothing else gets through: plain MQTT on the TLS port, a client that trusts
another CA. ``hall up`` stays plain on loopback. The CA and the broker's certificate are
made for each test with the ``cryptography`` library."""

from __future__ import annotations

import datetime
import getpass
import ipaddress
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hall_cli.broker import Broker, free_port, render_config, write_password_file
from hall_cli.main import build_parser
from hall_common.config import DoctorConfig
from hall_common.runner import node_bus
from hall_common.private_files import write_private

from .conftest import wait_for


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(folder: Path, common: str = "Test hall CA") -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA certificate (``folder/ca.pem``) and its key, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(folder: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    """The broker's certificate for 127.0.0.1 and localhost, signed by ``ca``, and its key (mode 600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("edge.hall.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = folder / "broker.pem", folder / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return cert_path, key_path


def two_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


@pytest.fixture
def tls_broker(tmp_path, capsys):
    """A real mosquitto started with what ``hall broker-config --tls`` wrote: (broker, TLS
    port, plain port, the CA file, the node passwords, the configuration's text)."""
    ca_path, ca_key, ca = make_ca(tmp_path / "pki")
    cert, key = make_server_cert(tmp_path / "pki", ca_key, ca)
    passwords = {"kiosk-01": "kiosk password 1", "edge": "edge password 1"}
    write_password_file(tmp_path / "passwd", passwords)
    plain, tls = two_ports()
    args = build_parser().parse_args([
        "broker-config", "--out-dir", str(tmp_path / "broker"), "--port", str(plain), "--bind", "127.0.0.1",
        "--user", getpass.getuser(), "--password-file", str(tmp_path / "passwd"),
        "--tls", "--tls-port", str(tls), "--cafile", str(ca_path), "--certfile", str(cert), "--keyfile", str(key)])
    assert args.func(args) == 0
    conf = Path(capsys.readouterr().out.strip())
    broker = Broker(conf, host="127.0.0.1", port=tls)
    broker.start()
    yield broker, tls, plain, ca_path, passwords, conf.read_text()
    broker.stop()


def test_broker_config_with_tls_writes_the_listener(tls_broker):
    _, tls, plain, ca_path, _, text = tls_broker
    assert f"listener {plain} 127.0.0.1\n" in text  # plain MQTT for the processes on the edge Pi only
    tls_block = text[text.index(f"listener {tls} 127.0.0.1"):]
    for line in (f"cafile {ca_path.resolve()}", "require_certificate false", "tls_version tlsv1.2",
                 "use_username_as_clientid true"):
        assert line in tls_block.splitlines()
    assert "certfile " in tls_block and "keyfile " in tls_block


def test_a_node_connects_over_tls_with_the_ca_and_logs_in(tls_broker, tmp_path):
    _, tls, _, ca_path, passwords, _ = tls_broker
    (tmp_path / "kiosk.pw").write_text(passwords["kiosk-01"])
    cfg = DoctorConfig(hall_id="t1", hall_name="测试大厅", node_id="kiosk-01", data_dir=tmp_path / "kiosk",
                       broker={"host": "127.0.0.1", "port": tls, "password_file": tmp_path / "kiosk.pw",
                               "ca_file": ca_path})
    bus = node_bus(cfg, kind="kiosk", sw="test")
    bus.start()
    try:
        assert bus.wait_connected(15), bus.refused
    finally:
        bus.close()


def test_over_tls_a_login_asking_for_another_nodes_id_is_still_itself(tls_broker, tmp_path):
    """Where the hall's nodes connect in production (the TLS listener has listener settings of
    its own): kiosk-01's password asking for client id ``edge`` does not knock off the edge
    agent, connected on the plain loopback listener; the broker gives it the id kiosk-01."""
    import paho.mqtt.client as mqtt

    broker, tls, plain, ca_path, passwords, _ = tls_broker
    (tmp_path / "edge.pw").write_text(passwords["edge"])
    cfg = DoctorConfig(hall_id="t1", hall_name="测试大厅", node_id="edge", data_dir=tmp_path / "edge",
                       broker={"host": "127.0.0.1", "port": plain, "password_file": tmp_path / "edge.pw"})
    edge = node_bus(cfg, kind="edge", sw="test")
    edge.start()
    intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge", protocol=mqtt.MQTTv5)
    intruder.username_pw_set("kiosk-01", passwords["kiosk-01"])
    intruder.tls_set_context(ssl.create_default_context(cafile=str(ca_path)))
    intruder.reconnect_delay_set(min_delay=600, max_delay=600)
    try:
        assert edge.wait_connected(15), edge.refused
        intruder.connect("127.0.0.1", tls)
        intruder.loop_start()
        log = broker.log_path
        wait_for(lambda: "as kiosk-01 (" in log.read_text(errors="replace"))
        assert "Client edge already connected" not in log.read_text(errors="replace")
        assert edge.connected
    finally:
        intruder.disconnect()
        intruder.loop_stop()
        edge.close()


def plain_connect(port: int) -> bytes:
    """Send an MQTT 5 CONNECT in the clear (no user: anonymous) and return all the broker
    answers before it hangs up (or resets the connection)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([5, 0x02, 0, 30, 0, 0, 0]))
        try:
            while chunk := sock.recv(64):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def test_the_tls_port_refuses_plain_mqtt_and_a_client_trusting_another_ca(tls_broker, tmp_path):
    _, tls, plain, _, _, _ = tls_broker
    assert plain_connect(plain)[:1] == b"\x20"  # loopback, plain: a CONNACK (refusing the anonymous client)
    assert plain_connect(tls)[:1] != b"\x20"  # the TLS port: no MQTT at all before a handshake
    other_ca, _, _ = make_ca(tmp_path / "other", "Another CA")
    context = ssl.create_default_context(cafile=str(other_ca))
    with socket.create_connection(("127.0.0.1", tls), timeout=10) as sock:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(sock, server_hostname="127.0.0.1")


def test_hall_up_keeps_the_broker_plain_on_loopback(tmp_path):
    text = render_config(tmp_path, port=18800).read_text()
    assert "listener 18800 127.0.0.1\n" in text
    assert not any(line.startswith(("cafile", "certfile", "keyfile", "tls_version")) for line in text.splitlines())
