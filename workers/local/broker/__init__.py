"""The local Kafka broker behind ``newswire broker start|stop|status``, for development and the integration tests.

It runs a real Apache Kafka broker (KRaft, one node that is broker and
controller at once) on 127.0.0.1.  One module per concern:

* :mod:`.jars`: the server jars (``org.apache.kafka:kafka_2.13``, pinned in
  ``workers/local/broker/pom.xml``) resolved from Maven Central with ``mvn``
  into a cache once (:func:`ensure_jars`);
* :mod:`.layout`: the broker directory (``broker.json``, ``server.properties``,
  ``data/``, ``broker.pid``, ``broker.log`` ...), kept across restarts;
* :mod:`.config`: ports and cluster id chosen once, secure mode's secrets,
  ``server.properties``, the ``NEWSWIRE_*`` client settings;
* :mod:`.tls`: secure mode's throwaway CA, broker keystore and client
  certificate, made with ``openssl``;
* :mod:`.ports`: free ports on 127.0.0.1;
* :mod:`.readiness`: readiness, asked with aiokafka's admin client (SCRAM over
  verified TLS, or a client certificate, in secure mode);
* :mod:`.process`: start (format, launch, wait until ready), stop, status;
* :mod:`.cli`: the ``broker`` commands (:func:`add_cli`).

User errors (no ``java``/``mvn``/``openssl``, port in use, Maven cannot
resolve) raise :class:`workers.errors.ConfigError` with a one-line message
that says what to do.
"""

from .config import (
    FAST_START_PROPERTIES,
    BrokerConfig,
    SecureSecrets,
    client_settings,
    configure,
    new_cluster_id,
    replication_properties,
    server_properties,
)
from .jars import KAFKA_VERSION, ensure_jars, jar_cache_dir
from .layout import DEFAULT_PORT, HOST, default_dir
from .ports import free_port, port_is_free
from .process import BrokerStartFailed, BrokerStatus, start, status, stop
from .readiness import BrokerNotReady, check, probe
from .tls import make_tls

__all__ = [
    "KAFKA_VERSION",
    "DEFAULT_PORT",
    "HOST",
    "FAST_START_PROPERTIES",
    "BrokerConfig",
    "BrokerNotReady",
    "BrokerStartFailed",
    "BrokerStatus",
    "SecureSecrets",
    "check",
    "client_settings",
    "configure",
    "default_dir",
    "ensure_jars",
    "free_port",
    "jar_cache_dir",
    "make_tls",
    "new_cluster_id",
    "port_is_free",
    "probe",
    "replication_properties",
    "server_properties",
    "start",
    "status",
    "stop",
]
