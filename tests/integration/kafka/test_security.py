"""Issue 12 on the real broker in secure mode: SASL_SSL with SCRAM-SHA-512, mutual TLS, clear failures,
no secret anywhere.

One secure broker (``workers.local.broker.start(secure=True)``: SASL_SSL only, a
throwaway CA) serves this module.  Everything talks to it as a user would:
``newswire submit`` / ``tail`` / ``config`` / ``topics`` / ``worker`` as
subprocesses with ``NEWSWIRE_*`` settings in their environment.  Every output
and log of these processes, the workers' /metrics and /readyz, and the
broker's log are searched for the client password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.helpers.expectations import SEED_HTML, assert_seed_record
from tests.helpers.kafka import unique_topics_env
from tests.helpers.workerproc import WorkerProcess
from workers.contract.schemas import validate_record
from workers.errors import ConfigError
from workers.kafka.diagnosis import start_client
from workers.kafka.options import aiokafka_options
from workers.local import broker
from workers.local.broker import layout
from workers.local.pages import PageServer
from workers.pipeline.record import ARTICLE_SCHEMA_VERSION
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CLI_TIMEOUT_S = 180  # a bound against hangs, not a speed assertion
MTLS_KEYS = ("NEWSWIRE_SSL_CERTFILE", "NEWSWIRE_SSL_KEYFILE")


@dataclass
class SecureBroker:
    bootstrap: str
    dir: Path
    settings: dict[str, str]  # the client settings `broker start --secure` gives (with the client certificate)
    outputs: list[tuple[str, bytes]] = field(default_factory=list)  # (what, text) of every process run here

    @property
    def password(self) -> str:
        return self.settings["NEWSWIRE_SASL_PASSWORD"]

    def scram_env(self, **extra: str) -> dict[str, str]:
        """Isolated topics, SASL_SSL + SCRAM-SHA-512, no client certificate."""
        env = unique_topics_env(self.bootstrap, **{k: v for k, v in self.settings.items() if k not in MTLS_KEYS})
        return {**env, **extra}

    def mtls_env(self, **extra: str) -> dict[str, str]:
        """Isolated topics, SASL_SSL + SCRAM-SHA-512 and a client certificate signed by the broker's CA."""
        return {**unique_topics_env(self.bootstrap, **self.settings), **extra}


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    dir = tmp_path_factory.mktemp("secure-broker")
    try:
        started = broker.start(broker.free_port(), dir, secure=True, stop_with_caller=True)
    except broker.BrokerStartFailed as exc:
        pytest.fail(f"the secure test broker did not start: {exc.detail}\n{exc.log_tail}", pytrace=False)
    except ConfigError as exc:
        pytest.fail(f"the secure test broker cannot start: {exc.detail}", pytrace=False)
    assert started.secure and started.bootstrap
    try:
        yield SecureBroker(started.bootstrap, dir, broker.client_settings(dir))
    finally:
        broker.stop(dir)


@pytest.fixture(scope="module")
def foreign_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA and a client certificate it signed: neither is trusted by the broker or matches it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("foreign-tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=foreign CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=intruder")
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "client.ext", "-out", "client.crt")
    return d


def newswire(secure: SecureBroker, what: str, *args: str, env: dict[str, str],
             input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``newswire ARGS`` with exactly these NEWSWIRE_* settings; its output is kept for the secret search."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    done = subprocess.run([sys.executable, "-m", "workers", *args], check=False, env={**clean, **env}, input=input,
                          capture_output=True, timeout=CLI_TIMEOUT_S, stdin=None if input else subprocess.DEVNULL)
    secure.outputs += [(f"{what}: stdout", done.stdout), (f"{what}: stderr", done.stderr)]
    return done


def run_example(secure: SecureBroker, *, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """examples/consume_articles.py (its own consumer group) over the same secure connection."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "consume_articles.py"), "--group",
                           f"example-{uuid.uuid4().hex[:8]}", "--from-beginning", "--max", "1", "--timeout", "60"],
                          env={**clean, **env}, capture_output=True, timeout=CLI_TIMEOUT_S, check=False,
                          stdin=subprocess.DEVNULL)
    secure.outputs += [("example consumer: stdout", done.stdout), ("example consumer: stderr", done.stderr)]
    return done


def start_worker(env: dict[str, str], workdir: Path, name: str) -> WorkerProcess:
    worker = WorkerProcess(env, workdir, name=name)
    own = set(env) | {"NEWSWIRE_WEB_PORT", "NEWSWIRE_WEB_HOST", "NEWSWIRE_DATA_DIR", "NEWSWIRE_LOG_FORMAT"}
    for key in [k for k in worker.env if k.startswith("NEWSWIRE_") and k not in own]:
        del worker.env[key]  # only the settings of this test, none inherited from the shell
    return worker.start()


def assert_no_secret(secure: SecureBroker, texts: list[tuple[str, bytes]], *, also: tuple[str, ...] = ()) -> None:
    # The password only: the local broker's user name is "newswire", a word every log line holds anyway.
    for secret in (secure.password, *also):
        leaks = [what for what, text in texts if secret.encode() in text]
        assert not leaks, f"a secret setting appears in: {leaks}"


def worker_texts(worker: WorkerProcess, what: str) -> list[tuple[str, bytes]]:
    texts = [(f"{what} log", worker.log_path.read_bytes())]
    if worker.proc is not None and worker.proc.poll() is None:
        texts.append((f"{what} /metrics", worker.get("/metrics")[1]))
        texts.append((f"{what} /readyz", worker.get("/readyz")[1]))
    return texts


async def collect_secure(env: dict[str, str], topics: list[str], *, until: Callable[[dict[str, list]], bool],
                         timeout: float = 120.0) -> dict[str, list]:
    """tests.helpers.kafka.collect over the secure connection (options from the same settings as newswire)."""
    settings = Settings.from_env(env)
    consumer = AIOKafkaConsumer(*topics, **aiokafka_options(settings), group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, isolation_level="read_committed", metadata_max_age_ms=1000)
    await start_client(consumer, settings)
    found: dict[str, list] = {topic: [] for topic in topics}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(found):
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                found[tp.topic] += [(m.key, orjson.loads(m.value), dict(m.headers or ())) for m in messages]
    finally:
        await consumer.stop()
    return found


# -- the happy paths ------------------------------------------------------------------------------


def test_submit_becomes_a_record_read_by_tail_over_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """submit -> worker (SCRAM-SHA-512, password from a _FILE) -> tail and the example consumer, all over
    SASL_SSL; dead letters too; `newswire config` masks the secrets."""
    password_file = tmp_path / "kafka-password"
    password_file.write_text(secure_broker.password + "\n")
    password_file.chmod(0o600)
    cli_env = secure_broker.scram_env()
    worker_env = {k: v for k, v in cli_env.items() if k != "NEWSWIRE_SASL_PASSWORD"}
    worker_env["NEWSWIRE_SASL_PASSWORD_FILE"] = str(password_file)
    worker = start_worker(worker_env, tmp_path, "scram-worker")
    try:
        worker.wait_ready()
        with PageServer() as pages:
            url = pages.add_page("/seed", SEED_HTML.read_bytes())
            submitted = newswire(secure_broker, "submit", "submit", "--source", "secure-test", env=cli_env,
                                 input=f"{url}\nnot a url at all\n".encode())
            assert submitted.returncode == 0, submitted.stderr.decode()
            assert b"submitted 2 URL" in submitted.stderr
            tailed = newswire(secure_broker, "tail", "tail", "--from-beginning", "--max", "1", "--timeout", "120",
                              env=cli_env)
        assert tailed.returncode == 0, tailed.stderr.decode() + worker.log_tail()
        record = orjson.loads(tailed.stdout.splitlines()[0])
        validate_record("article", record)
        assert record["url"] == url and record["source"] == "secure-test"
        assert_seed_record(record)
        letters = newswire(secure_broker, "tail deadletter", "tail", "--topic", "deadletter", "--from-beginning",
                           "--max", "1", "--timeout", "120", env=cli_env)
        assert letters.returncode == 0, letters.stderr.decode()
        letter = orjson.loads(letters.stdout.splitlines()[0])
        validate_record("deadletter", letter)
        assert letter["error"] == "invalid_url" and letter["url"] == "not a url at all"
        example = run_example(secure_broker, env=cli_env)
        assert example.returncode == 0, example.stderr.decode()
        assert example.stdout.decode().startswith(record["title"]), example.stdout
        config = newswire(secure_broker, "config", "config", env=cli_env)
        shown = dict(line.split("=", 1) for line in config.stdout.decode().splitlines())
        assert shown["NEWSWIRE_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert shown["NEWSWIRE_SASL_PASSWORD"] == "***" and shown["NEWSWIRE_SASL_USERNAME"] == "***"
        texts = worker_texts(worker, "scram worker")
        assert worker.proc is not None and worker.proc.poll() is None, worker.log_tail()
    finally:
        worker.terminate()
    assert_no_secret(secure_broker, [*secure_broker.outputs, *texts, ("worker log after stop",
                                                                      worker.log_path.read_bytes())])


async def test_worker_with_a_client_certificate(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """Mutual TLS: the worker presents a certificate signed by the broker's CA (which the broker verifies:
    see test_client_certificate_from_another_ca_is_refused) on top of its SCRAM login."""
    env = secure_broker.mtls_env()
    worker = start_worker(env, tmp_path, "mtls-worker")
    try:
        worker.wait_ready()
        with PageServer() as pages:
            url = pages.add_page("/seed", SEED_HTML.read_bytes())
            submitted = newswire(secure_broker, "submit (mTLS)", "submit", url, env=env)
            assert submitted.returncode == 0, submitted.stderr.decode()
            articles = env["NEWSWIRE_ARTICLES_TOPIC"]
            found = await collect_secure(env, [articles], until=lambda f: len(f[articles]) >= 1)
        assert len(found[articles]) == 1, worker.log_tail()
        key, record, headers = found[articles][0]
        assert record["url"] == url and key == record["id"].encode()
        assert headers["schema_version"] == ARTICLE_SCHEMA_VERSION.encode()
        texts = worker_texts(worker, "mTLS worker")
    finally:
        worker.terminate()
    assert_no_secret(secure_broker, [*texts, *secure_broker.outputs])


def test_worker_with_mutual_tls_only(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """SSL with a client certificate and no SASL: the certificate is the identity.

    The secure broker's second client listener (SSL, ``ssl.client.auth=required``) serves it; the settings
    are ``broker.client_settings(dir, mtls=True)`` (what ``client-mtls.env`` holds)."""
    settings = broker.client_settings(secure_broker.dir, mtls=True)
    assert settings["NEWSWIRE_BOOTSTRAP_SERVERS"] != secure_broker.bootstrap  # its own listener, not SASL_SSL's
    env = unique_topics_env(settings["NEWSWIRE_BOOTSTRAP_SERVERS"], **settings)
    assert env["NEWSWIRE_SECURITY_PROTOCOL"] == "SSL" and not any(key.startswith("NEWSWIRE_SASL") for key in env)
    without_cert = {k: v for k, v in env.items() if k not in MTLS_KEYS}
    assert_fails_with(newswire(secure_broker, "topics (no client cert)", "topics", env=without_cert),
                      "client certificate")
    worker = start_worker(env, tmp_path, "mtls-only-worker")
    try:
        worker.wait_ready()
        with PageServer() as pages:
            url = pages.add_page("/seed", SEED_HTML.read_bytes())
            assert newswire(secure_broker, "submit (mTLS only)", "submit", url, env=env).returncode == 0
            tailed = newswire(secure_broker, "tail (mTLS only)", "tail", "--from-beginning", "--max", "1",
                              "--timeout", "120", env=env)
        assert tailed.returncode == 0 and orjson.loads(tailed.stdout.splitlines()[0])["url"] == url
        texts = worker_texts(worker, "mTLS-only worker")
    finally:
        worker.terminate()
    assert_no_secret(secure_broker, texts)


def test_feed_commands_over_sasl_ssl(secure_broker: SecureBroker) -> None:
    """The feed subscriptions live in Kafka too: `feeds add` / `feeds list` over SASL_SSL, and the same one line
    for a wrong password."""
    env = secure_broker.scram_env()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWIRE_")}

    def feeds(what: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([sys.executable, "-m", "workers", "feeds", *args], env={**clean, **env},
                              capture_output=True, timeout=CLI_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
        secure_broker.outputs.extend([(f"{what}: stdout", done.stdout), (f"{what}: stderr", done.stderr)])
        return done

    added = feeds("feeds add", "add", "https://feeds.example.com/news.xml", env=env)
    assert added.returncode == 0, added.stderr.decode()
    listed = feeds("feeds list", "list", env=env)
    assert listed.returncode == 0 and b"https://feeds.example.com/news.xml" in listed.stdout, listed.stderr.decode()
    wrong = "Wr0ng-" + secure_broker.password[::-1]
    refused = feeds("feeds list (wrong password)", "list", env={**env, "NEWSWIRE_SASL_PASSWORD": wrong})
    assert_fails_with(refused, "SASL authentication failed (SCRAM-SHA-512)")
    assert_no_secret(secure_broker, secure_broker.outputs, also=(wrong,))


# -- failures: one line naming the cause, exit code 2, quickly ---------------------------------------


def assert_fails_with(done: subprocess.CompletedProcess[bytes], *phrases: str) -> str:
    """Exit code 2 and exactly one line on stderr, ``newswire: cannot connect ...`` with the phrases; no traceback."""
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("newswire: cannot connect to Kafka at "), stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def test_worker_with_a_wrong_password_exits_with_the_cause(secure_broker: SecureBroker, tmp_path: Path) -> None:
    wrong = "Wr0ng-" + secure_broker.password[::-1]
    env = secure_broker.scram_env(NEWSWIRE_SASL_PASSWORD=wrong)
    worker = start_worker(env, tmp_path, "wrong-password-worker")
    try:
        code = worker.proc.wait(CLI_TIMEOUT_S) if worker.proc else None
    finally:
        worker.kill()
    log = worker.log_path.read_bytes()
    assert code == 2, log.decode()
    assert_fails_with(subprocess.CompletedProcess([], code, b"", log), "SASL authentication failed (SCRAM-SHA-512)",
                      "NEWSWIRE_SASL_PASSWORD")
    assert_no_secret(secure_broker, [("wrong-password worker log", log)], also=(wrong,))


def test_worker_with_an_untrusted_ca_exits_with_the_cause(secure_broker: SecureBroker, foreign_tls: Path,
                                                            tmp_path: Path) -> None:
    env = secure_broker.scram_env(NEWSWIRE_SSL_CAFILE=str(foreign_tls / "ca.crt"))
    worker = start_worker(env, tmp_path, "untrusted-ca-worker")
    try:
        code = worker.proc.wait(CLI_TIMEOUT_S) if worker.proc else None
    finally:
        worker.kill()
    log = worker.log_path.read_bytes()
    assert code == 2, log.decode()
    assert_fails_with(subprocess.CompletedProcess([], code, b"", log), "certificate verify failed",
                      f"NEWSWIRE_SSL_CAFILE={foreign_tls / 'ca.crt'} does not hold the CA")
    assert_no_secret(secure_broker, [("untrusted-CA worker log", log)])


def test_system_cas_do_not_trust_the_private_ca(secure_broker: SecureBroker) -> None:
    env = {k: v for k, v in secure_broker.scram_env().items() if k != "NEWSWIRE_SSL_CAFILE"}
    done = newswire(secure_broker, "topics (system CAs)", "topics", env=env)
    assert_fails_with(done, "not trusted", "set NEWSWIRE_SSL_CAFILE")


def test_plaintext_client_against_the_tls_port(secure_broker: SecureBroker) -> None:
    env = unique_topics_env(secure_broker.bootstrap)
    done = newswire(secure_broker, "topics (plaintext)", "topics", env=env)
    assert_fails_with(done, "(PLAINTEXT)", "the port speaks TLS", "NEWSWIRE_SECURITY_PROTOCOL=SSL or SASL_SSL")
    submitted = newswire(secure_broker, "topics (SASL_PLAINTEXT)", "topics",
                         env=secure_broker.scram_env(NEWSWIRE_SECURITY_PROTOCOL="SASL_PLAINTEXT"))
    assert_fails_with(submitted, "the port speaks TLS", "NEWSWIRE_SECURITY_PROTOCOL=SASL_SSL")


def test_tls_without_sasl_against_the_sasl_listener(secure_broker: SecureBroker) -> None:
    env = secure_broker.mtls_env(NEWSWIRE_SECURITY_PROTOCOL="SSL")
    done = newswire(secure_broker, "topics (SSL only)", "topics", env=env)
    assert_fails_with(done, "requires SASL", "NEWSWIRE_SECURITY_PROTOCOL=SASL_SSL")


def test_client_certificate_from_another_ca_is_refused(secure_broker: SecureBroker, foreign_tls: Path) -> None:
    env = secure_broker.scram_env(NEWSWIRE_SSL_CERTFILE=str(foreign_tls / "client.crt"),
                                  NEWSWIRE_SSL_KEYFILE=str(foreign_tls / "client.key"))
    done = newswire(secure_broker, "topics (foreign client cert)", "topics", env=env)
    assert_fails_with(done, "refused the client certificate")


def test_wrong_mechanism_is_named(secure_broker: SecureBroker) -> None:
    done = newswire(secure_broker, "topics (SCRAM-SHA-256)", "topics",
                    env=secure_broker.scram_env(NEWSWIRE_SASL_MECHANISM="SCRAM-SHA-256"))
    assert_fails_with(done, "does not offer SASL mechanism SCRAM-SHA-256")


def test_tls_client_against_a_plaintext_port(secure_broker: SecureBroker, kafka_bootstrap: str) -> None:
    env = {**secure_broker.scram_env(), "NEWSWIRE_BOOTSTRAP_SERVERS": kafka_bootstrap}
    done = newswire(secure_broker, "topics (TLS to plaintext)", "topics", env=env)
    assert_fails_with(done, "speaks plaintext Kafka", "NEWSWIRE_SECURITY_PROTOCOL=SASL_PLAINTEXT")


# -- credentials that break after start -------------------------------------------------------------

# `newswire worker` with the CredentialWatch wired as docs/security.md proposes for workers/cli.py.
# (A file, not `python -c`: the worker's spawn-based process pool re-imports __main__.)
WATCHED_WORKER = """
import sys


def main() -> int:
    from workers import cli
    from workers.kafka.diagnosis import CredentialWatch
    from workers.settings import Settings

    watch = CredentialWatch(Settings.from_env()).install()
    try:
        return cli.main(["worker"])
    except SystemExit:
        if watch.failure is not None:
            print(f"newswire: {watch.failure.detail}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        raise


if __name__ == "__main__":
    sys.exit(main())
"""


def set_scram_password(secure: SecureBroker, user: str, password: str, workdir: Path) -> None:
    """Create the SCRAM-SHA-512 user or change its password, as a cluster admin would (kafka-configs)."""
    java = shutil.which("java")
    assert java is not None
    admin_password = json.loads((secure.dir / layout.SECRETS_FILE).read_text())["admin_password"]
    properties = workdir / "admin.properties"  # the broker's own admin login: only in this 0600 file
    properties.touch(mode=0o600)
    properties.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{layout.ADMIN_USER}" password="{admin_password}";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={secure.settings['NEWSWIRE_SSL_CAFILE']}\n")
    done = subprocess.run([java, "-cp", f"{broker.ensure_jars()}/*", "kafka.admin.ConfigCommand",
                           "--bootstrap-server", secure.bootstrap, "--command-config", str(properties), "--alter",
                           "--add-config", f"SCRAM-SHA-512=[iterations=4096,password={password}]",
                           "--entity-type", "users", "--entity-name", user],
                          capture_output=True, timeout=CLI_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    secure.outputs += [("kafka-configs stdout", done.stdout)]


def test_worker_stops_with_the_cause_when_its_password_is_changed(secure_broker: SecureBroker,
                                                                    tmp_path: Path) -> None:
    """The password is changed on the cluster and the broker restarts: the worker's new logins are refused.
    Without the watch it retries forever and stays 'ready'; with it, it stops and exits 2 with one line."""
    user, first, second = "svc-rotating", "First-" + uuid.uuid4().hex, "Second-" + uuid.uuid4().hex
    set_scram_password(secure_broker, user, first, tmp_path)
    env = secure_broker.scram_env(NEWSWIRE_SASL_USERNAME=user, NEWSWIRE_SASL_PASSWORD=first)
    driver = tmp_path / "watched_worker.py"
    driver.write_text(WATCHED_WORKER)
    worker = WorkerProcess(env, tmp_path, name="rotating-worker")
    worker.env = {k: v for k, v in worker.env.items() if not k.startswith("NEWSWIRE_") or k in env
                  or k in ("NEWSWIRE_WEB_PORT", "NEWSWIRE_WEB_HOST", "NEWSWIRE_DATA_DIR", "NEWSWIRE_LOG_FORMAT")}
    with open(worker.log_path, "ab") as log:
        worker.proc = subprocess.Popen([sys.executable, str(driver)], env=worker.env, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        worker.wait_ready()
        set_scram_password(secure_broker, user, second, tmp_path)
        broker.stop(secure_broker.dir)  # a rolling restart: every connection logs in again
        broker.start(dir=secure_broker.dir, stop_with_caller=True)
        code = worker.proc.wait(CLI_TIMEOUT_S)
    finally:
        worker.kill()
    log = worker.log_path.read_bytes()
    assert code == 2, log.decode()[-3000:]
    last = log.decode().strip().splitlines()[-1]
    assert last.startswith("newswire: cannot connect to Kafka at ") and "SASL authentication failed" in last, last
    critical = [orjson.loads(line) for line in log.splitlines() if line.startswith(b"{") and b'"critical"' in line]
    assert any(entry["logger"] == "newswire.kafka" and "SASL authentication failed" in entry["message"]
               for entry in critical), critical
    assert_no_secret(secure_broker, [("rotating worker log", log)], also=(first, second))


# -- newswire submit / tail: the same one line ---------------------------------------------------------


def test_submit_and_tail_with_a_wrong_password_print_one_line(secure_broker: SecureBroker) -> None:
    wrong = "Wr0ng-" + secure_broker.password[::-1]
    env = secure_broker.scram_env(NEWSWIRE_SASL_PASSWORD=wrong)
    submitted = newswire(secure_broker, "submit (wrong password)", "submit", "http://example.com/a", env=env)
    tailed = newswire(secure_broker, "tail (wrong password)", "tail", "--max", "1", "--timeout", "5", env=env)
    for done in (submitted, tailed):
        assert_fails_with(done, "SASL authentication failed (SCRAM-SHA-512)")
    assert_no_secret(secure_broker, secure_broker.outputs, also=(wrong,))


# -- no secret in anything the test saw ------------------------------------------------------------


def test_outputs_and_broker_log_hold_no_client_secret(secure_broker: SecureBroker) -> None:
    """Every output collected in this module, and the broker's own log: no client password.

    The broker's log is included: Kafka prints its configuration at start with
    password-type values shown as ``[hidden]``; neither the client's nor the
    broker's own admin password (in server.properties and secure.json, 0600)
    may appear in it.
    """
    if not secure_broker.outputs:
        newswire(secure_broker, "config", "config", env=secure_broker.scram_env())
    broker_log = (secure_broker.dir / layout.LOG_FILE).read_bytes()
    assert b"[hidden]" in broker_log  # the configuration dump is there, with its secrets masked
    admin_password = json.loads((secure_broker.dir / layout.SECRETS_FILE).read_text())["admin_password"]
    assert_no_secret(secure_broker, [*secure_broker.outputs, ("broker.log", broker_log)], also=(admin_password,))
    for name in (layout.SECRETS_FILE, layout.CLIENT_ENV_FILE):
        assert (secure_broker.dir / name).stat().st_mode & 0o077 == 0
