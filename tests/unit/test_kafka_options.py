import pytest

from workers.errors import ConfigError
from workers.kafka_options import aiokafka_options, faust_broker_urls, faust_credentials
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
