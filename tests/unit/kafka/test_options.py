import shutil
import ssl
import subprocess

import pytest

from workers.errors import ConfigError
from workers.kafka.options import aiokafka_options, faust_broker_urls, faust_credentials
from workers.settings import Settings


def test_plaintext_by_default():
    s = Settings.from_env({"NEWSWIRE_BOOTSTRAP_SERVERS": "a:9092, b:9092"})
    assert aiokafka_options(s) == {"bootstrap_servers": "a:9092, b:9092", "security_protocol": "PLAINTEXT"}
    assert faust_broker_urls(s) == ["kafka://a:9092", "kafka://b:9092"]
    assert faust_credentials(s) is None


def test_sasl_ssl_options_and_secret_from_file(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret-pass\n")
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL", "NEWSWIRE_SASL_USERNAME": "svc",
                           "NEWSWIRE_SASL_PASSWORD_FILE": str(secret)})
    opts = aiokafka_options(s)
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_password"] == "s3cret-pass"
    assert opts["ssl_context"].check_hostname is True
    creds = faust_credentials(s)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    described = s.describe()
    assert described["NEWSWIRE_SASL_PASSWORD"] == "***"
    assert "s3cret-pass" not in repr(described) and "s3cret-pass" not in repr(creds)


def test_sasl_without_credentials_is_a_config_error():
    with pytest.raises(ConfigError, match="NEWSWIRE_SASL_USERNAME"):
        Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})


def test_unreadable_ca_file_names_the_problem_not_the_secret(tmp_path):
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL", "NEWSWIRE_SASL_USERNAME": "u",
                           "NEWSWIRE_SASL_PASSWORD": "hunter2", "NEWSWIRE_SSL_CAFILE": str(tmp_path / "nope.pem")})
    with pytest.raises(ConfigError) as info:
        aiokafka_options(s)
    assert "NEWSWIRE_SSL" in str(info.value) and "hunter2" not in str(info.value)


def _openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory):
    """A self-signed EC client certificate, and its key encrypted with a password."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", "client.key",
             "-out", "client.crt", "-days", "2", "-subj", "/CN=client", "-passout", "pass:key-pass-9", cwd=d)
    return d / "client.crt", d / "client.key"


def test_mutual_tls_without_sasl(client_cert):
    cert, key = client_cert
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SSL", "NEWSWIRE_SSL_CERTFILE": str(cert),
                           "NEWSWIRE_SSL_KEYFILE": str(key), "NEWSWIRE_SSL_KEY_PASSWORD": "key-pass-9"})
    opts = aiokafka_options(s)
    assert opts["security_protocol"] == "SSL" and not any(k.startswith("sasl") for k in opts)
    context = opts["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    creds = faust_credentials(s)
    assert creds.protocol.value == "SSL" and creds.context.verify_mode == ssl.CERT_REQUIRED


def test_wrong_key_password_is_a_config_error_without_the_password(client_cert):
    cert, key = client_cert
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SSL", "NEWSWIRE_SSL_CERTFILE": str(cert),
                           "NEWSWIRE_SSL_KEYFILE": str(key), "NEWSWIRE_SSL_KEY_PASSWORD": "not-it-77"})
    with pytest.raises(ConfigError) as info:
        aiokafka_options(s)
    assert "NEWSWIRE_SSL" in str(info.value) and "not-it-77" not in str(info.value)


def test_hostname_check_can_be_switched_off_but_the_chain_is_still_verified():
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SSL", "NEWSWIRE_SSL_CHECK_HOSTNAME": "false"})
    context = aiokafka_options(s)["ssl_context"]
    assert context.check_hostname is False and context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_plaintext_has_no_tls_and_faust_agrees():
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "NEWSWIRE_SASL_MECHANISM": "PLAIN",
                           "NEWSWIRE_SASL_USERNAME": "u", "NEWSWIRE_SASL_PASSWORD": "p"})
    opts = aiokafka_options(s)
    assert "ssl_context" not in opts and opts["sasl_mechanism"] == "PLAIN"
    assert faust_credentials(s).protocol.value == "SASL_PLAINTEXT"


def test_faust_gets_the_same_options_as_aiokafka_clients():
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL", "NEWSWIRE_SASL_USERNAME": "svc-user",
                           "NEWSWIRE_SASL_PASSWORD": "pw-1"})
    faust_side = credentials_to_aiokafka_auth(faust_credentials(s))
    ours = aiokafka_options(s)
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert faust_side[key] == ours[key]
    assert faust_side["ssl_context"].check_hostname is True


def test_faust_credentials_repr_shows_no_user_or_password():
    s = Settings.from_env({"NEWSWIRE_SECURITY_PROTOCOL": "SASL_SSL", "NEWSWIRE_SASL_USERNAME": "svc-user",
                           "NEWSWIRE_SASL_PASSWORD": "pw-1"})
    creds = faust_credentials(s)
    assert "svc-user" not in repr(creds) and "pw-1" not in repr(creds) and "SCRAM-SHA-512" in repr(creds)
