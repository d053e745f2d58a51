"""The deployment files: valid for their tools, and consistent with the settings and the worker.

* Kubernetes manifests validate against the Kubernetes OpenAPI schemas shipped
  by ``kubernetes-validate`` (offline, strict: unknown fields are errors); the
  CRDs (KEDA ScaledObject, Prometheus Operator PodMonitor) get structural checks.
* docker-compose.yml validates against the compose-spec JSON schema shipped by
  ``check-jsonschema``.
* Every NEWSWIRE_* variable they set is a real setting, the values parse, and
  the ones a deployment cannot do without are set; ``_FILE`` variants only for
  the settings that read them (secrets).
* Kafka credentials: the worker pod reads them as files from the Secret the
  Deployment mounts, KEDA's TriggerAuthentication reads the same Secret keys,
  PLAINTEXT needs no Secret, and compose secrets are only in the override file.
* The Dockerfile installs with the commands CI runs (the Makefile's), from the
  lock, and requirements.lock pins every runtime dependency.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from workers.settings import PREFIX, Settings, env_name, setting_fields

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_AUTH = ROOT / "deploy" / "compose" / "kafka-auth.override.yml"
SECRET_EXAMPLE = K8S / "examples" / "secret.example.yaml"
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"

SETTING_NAMES = {env_name(f) for f in setting_fields()}
SECRET_FILE_NAMES = {env_name(f) + "_FILE" for f in setting_fields() if f.metadata["secret"]}
# What no deployment of the worker can leave to the defaults (they point at this machine or at nothing).
REQUIRED = {"NEWSWIRE_BOOTSTRAP_SERVERS", "NEWSWIRE_INPUT_TOPIC", "NEWSWIRE_ARTICLES_TOPIC",
            "NEWSWIRE_DEADLETTER_TOPIC", "NEWSWIRE_GROUP_ID", "NEWSWIRE_WEB_HOST", "NEWSWIRE_WEB_PORT"}
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"}
BASE_CONFIG = "newswire-config"        # the settings of every worker
AUTH_CONFIG = "newswire-kafka-auth"    # the optional ConfigMap that switches Kafka security on
DEFAULT_SHUTDOWN_S = next(f.default for f in setting_fields() if f.name == "shutdown_timeout_s")


# -- loading -------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for _, doc in k8s_documents()
             if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def worker_container() -> dict[str, Any]:
    (container,) = [c for c in k8s("Deployment")["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"]
    return container


def k8s_worker_env(secured: bool = False) -> dict[str, str]:
    """The env a worker pod gets: its ConfigMaps (envFrom, later ones win) and the plain values of env.

    ``secured``: with the optional ConfigMap of kafka-auth/ applied, as on a TLS/SASL cluster.
    """
    container = worker_container()
    refs = [ref["configMapRef"] for ref in container["envFrom"]]
    assert [ref["name"] for ref in refs] == [BASE_CONFIG, AUTH_CONFIG]
    env: dict[str, str] = {}
    for ref in refs:
        if ref["name"] == AUTH_CONFIG and not secured:
            continue
        env.update(k8s("ConfigMap", ref["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def kafka_secret_volume() -> tuple[str, dict[str, Any]]:
    """(mount path, secret volume source) of the Kafka credentials in the worker pod."""
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    (mount,) = [m for m in worker_container()["volumeMounts"] if m["name"] == volume["name"]]
    assert mount.get("readOnly") is True
    return mount["mountPath"], volume["secret"]


def secret_example() -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(SECRET_EXAMPLE.read_text()) if d]
    return doc


def commented_settings(path: Path) -> dict[str, str]:
    """The optional NEWSWIRE_* lines a manifest shows commented out (e.g. for mutual TLS)."""
    lines = re.findall(r"^\s*#\s*(NEWSWIRE_[A-Z_]+:.*)$", path.read_text(), re.MULTILINE)
    return yaml.safe_load("\n".join(lines)) or {}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} for the given shell environment."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group("name", "op", "arg")
        if environ.get(name):
            return environ[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")  # compose refuses to start
        return arg if op == ":-" else ""
    return _INTERPOLATION.sub(one, str(value))


def compose_env(service: str, environ: dict[str, str] | None = None, *overrides: Path) -> dict[str, str]:
    """A service's environment as compose runs it: files merged in order, variables interpolated."""
    env: dict[str, Any] = {}
    for path in (COMPOSE, *overrides):
        env.update(yaml.safe_load(path.read_text())["services"].get(service, {}).get("environment", {}))
    return {key: interpolate(value, environ or {}) for key, value in env.items()}


def dockerfile_env() -> dict[str, str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    runtime = text.split(" AS runtime", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def settings_from(env: dict[str, str]) -> Settings:
    return Settings.from_env({k: str(v) for k, v in env.items() if k.startswith(PREFIX)})


def newswire_names(env: dict[str, Any]) -> set[str]:
    return {name for name in env if name.startswith(PREFIX)}


# -- Kubernetes ----------------------------------------------------------------------


def test_kubernetes_manifests_validate_against_the_kubernetes_schemas():
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    validated = set()
    for _, doc in k8s_documents():
        if doc["kind"] in CRD_KINDS:
            continue  # no schema ships for CRDs: checked structurally below
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any error or unknown field
        validated.add(doc["kind"])
    assert {"ConfigMap", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Secret"} <= validated


def test_the_schema_validation_catches_a_misspelled_field():
    import kubernetes_validate

    broken = k8s("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_every_manifest_is_labelled_as_the_worker():
    for path, doc in k8s_documents():
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "newswire", path


def test_kubernetes_env_vars_are_settings_and_parse():
    container = worker_container()
    names = newswire_names(k8s_worker_env(secured=True)) | {item["name"] for item in container.get("env", [])}
    names |= set(commented_settings(K8S / "kafka-auth" / "configmap.yaml"))
    assert names <= SETTING_NAMES | SECRET_FILE_NAMES, names - SETTING_NAMES - SECRET_FILE_NAMES
    settings = settings_from(k8s_worker_env())  # raises ConfigError on a bad value
    assert newswire_names(k8s_worker_env()) >= REQUIRED
    assert settings.web_host == "0.0.0.0"
    # 0 means one process per core of the node, not of the pod's CPU limit.
    assert settings.pool_size >= 1
    assert settings.log_format == "json"
    # Secrets are never values in a manifest: only their _FILE variants, pointing at the Secret's files.
    secret_names = {env_name(f) for f in setting_fields() if f.metadata["secret"]}
    assert not secret_names & names, secret_names & names


def test_file_variants_are_accepted_only_for_secret_settings():
    # The premise of the name checks: Settings reads NAME_FILE for secrets only, so a _FILE variant of
    # any other setting would be silently ignored; the checks above refuse it.
    assert {"NEWSWIRE_SASL_USERNAME_FILE", "NEWSWIRE_SASL_PASSWORD_FILE",
            "NEWSWIRE_SSL_KEY_PASSWORD_FILE"} <= SECRET_FILE_NAMES
    assert "NEWSWIRE_SSL_CAFILE_FILE" not in SECRET_FILE_NAMES
    assert "NEWSWIRE_SECURITY_PROTOCOL_FILE" not in SECRET_FILE_NAMES | SETTING_NAMES
    assert Settings.from_env({"NEWSWIRE_BOOTSTRAP_SERVERS_FILE": "/nonexistent"}).bootstrap_servers == "127.0.0.1:9092"


def test_plaintext_pods_need_no_secret():
    settings = settings_from(k8s_worker_env())
    assert settings.security_protocol == "PLAINTEXT"
    # Nothing in the default environment names a file of the Secret (a missing one stops the worker).
    mount, volume = kafka_secret_volume()
    assert not [value for value in k8s_worker_env().values() if value.startswith(mount)]
    assert not newswire_names(k8s_worker_env()) & SECRET_FILE_NAMES
    # The Secret and the ConfigMap that switches security on may both be absent.
    assert volume["optional"] is True
    (auth_ref,) = [ref["configMapRef"] for ref in worker_container()["envFrom"]
                   if ref["configMapRef"]["name"] == AUTH_CONFIG]
    assert auth_ref["optional"] is True
    assert oct(volume["defaultMode"]) in ("0o440", "0o400")  # readable by the pod's user and group only
    # The secured set-up lives apart: `kubectl apply -f deploy/kubernetes/` applies neither it nor the example.
    paths = {doc["metadata"]["name"]: path for path, doc in k8s_documents() if doc["kind"] == "ConfigMap"}
    assert paths[AUTH_CONFIG].parent != K8S and paths[BASE_CONFIG].parent == K8S
    assert SECRET_EXAMPLE.parent != K8S and SECRET_EXAMPLE.parent != paths[AUTH_CONFIG].parent


def test_secured_pods_read_the_credentials_from_the_mounted_secret(tmp_path):
    mount, volume = kafka_secret_volume()
    secret = secret_example()
    assert secret["metadata"]["name"] == volume["secretName"]
    # What kubelet puts into the volume: one file per key.
    for key, value in secret["stringData"].items():
        (tmp_path / key).write_text(value)
    env = k8s_worker_env(secured=True)
    auth = k8s("ConfigMap", AUTH_CONFIG)["data"]
    for name, value in {**auth, **commented_settings(K8S / "kafka-auth" / "configmap.yaml")}.items():
        if name.endswith("FILE"):  # NAME_FILE of a secret, or NEWSWIRE_SSL_CAFILE/CERTFILE/KEYFILE
            # Every file the worker is pointed at is a key of the Secret, in its mount.
            assert value.startswith(mount.rstrip("/") + "/"), (name, value)
            key = value[len(mount.rstrip("/")) + 1:]
            assert key in secret["stringData"] or f"# {key}:" in SECRET_EXAMPLE.read_text(), (name, key)
    as_mounted = {name: value.replace(mount.rstrip("/"), str(tmp_path)) for name, value in env.items()}
    settings = settings_from(as_mounted)
    assert settings.security_protocol == "SASL_SSL" and settings.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.sasl_username == secret["stringData"]["username"]
    assert settings.sasl_password == secret["stringData"]["password"]
    assert Path(settings.ssl_cafile).read_text() == secret["stringData"]["ca.crt"]
    assert settings.ssl_check_hostname is True
    # The mutual-TLS lines, once uncommented, are a valid combination (certificate and key together).
    mutual = {**env, **commented_settings(K8S / "kafka-auth" / "configmap.yaml")}
    (tmp_path / "client-key-password").write_text("key-password")
    mutual_tls = settings_from({name: value.replace(mount.rstrip("/"), str(tmp_path))
                                for name, value in mutual.items()})
    assert mutual_tls.ssl_certfile.endswith("/client.crt") and mutual_tls.ssl_keyfile.endswith("/client.key")
    assert mutual_tls.ssl_key_password == "key-password"


def test_the_secret_example_holds_only_placeholders():
    secret = secret_example()
    kubernetes_secret_keys = re.compile(r"[-._a-zA-Z0-9]+")
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque" and "data" not in secret
    for key, value in secret["stringData"].items():
        assert kubernetes_secret_keys.fullmatch(key)
        assert "REPLACE-ME" in value, key
    assert SECRET_EXAMPLE.read_text().startswith("# EXAMPLE ONLY")


def test_probes_use_the_worker_endpoints_on_its_web_port():
    container = worker_container()
    settings = settings_from(k8s_worker_env())
    (port,) = container["ports"]
    assert port["containerPort"] == settings.web_port
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] in (port["name"], port["containerPort"])
    # The readiness probe tolerates a rebalance (every partition revoked for a moment).
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] >= 20
    annotations = k8s("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.web_port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_worker_serves_the_probed_paths():
    from workers.settings import Settings
    from workers.worker.app import build_worker

    app = build_worker(Settings()).app

    paths = {str(route.resource.canonical) for route in app.web.web_app.router.routes()}
    assert {"/healthz", "/readyz", "/metrics"} <= paths, paths


def test_graceful_termination_outlasts_the_shutdown_timeout():
    spec = k8s("Deployment")["spec"]["template"]["spec"]
    shutdown = settings_from(k8s_worker_env()).shutdown_timeout_s
    # Drain in-flight URLs, then the final commit and leaving the group need a few seconds more.
    assert spec["terminationGracePeriodSeconds"] >= shutdown + 10


def test_resources_and_hardening():
    container = worker_container()
    resources = container["resources"]
    for key in ("cpu", "memory"):
        assert key in resources["requests"] and key in resources["limits"]
    assert settings_from(k8s_worker_env()).pool_size <= int(resources["limits"]["cpu"])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    pod = k8s("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == dockerfile_uid()
    # What the worker writes (data dir, temp files) is on writable volumes.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts
    data_dir = settings_from(k8s_worker_env()).data_dir
    assert any(data_dir == m or data_dir.startswith(m.rstrip("/") + "/") for m in mounts)


def test_rollout_and_disruption_budget_fit_readiness_by_assignment():
    deployment = k8s("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    # A surge pod may get no partition, never become ready, and stall the rollout.
    assert rolling["maxSurge"] == 0 and rolling["maxUnavailable"] == 1
    pdb = k8s("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["maxUnavailable"] == 1
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"  # idle (NotReady) workers never block a drain


def test_keda_scaled_object_targets_the_worker_group():
    scaled = k8s("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
                         "cooldownPeriod", "idleReplicaCount", "fallback", "advanced", "triggers"}
    assert spec["scaleTargetRef"]["name"] == k8s("Deployment")["metadata"]["name"]
    settings = settings_from(k8s_worker_env())
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= settings.topic_partitions
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values())  # KEDA metadata is a map of strings
    assert meta["bootstrapServers"] == settings.bootstrap_servers
    assert meta["consumerGroup"] == settings.group_id
    # No topic: the lag of the internal streams (where pages wait for fetch and NER) counts too.
    assert "topic" not in meta
    assert int(meta["lagThreshold"]) > 0
    assert meta["offsetResetPolicy"] == "earliest"  # what the worker does (consumer_auto_offset_reset)
    assert meta["allowIdleConsumers"] == "false"
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 60


KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def keda_security_metadata(settings: Settings) -> dict[str, str]:
    """The KEDA Kafka trigger's `sasl` / `tls` metadata that connects the way the workers do."""
    wanted = {"tls": "enable" if settings.security_protocol.endswith("SSL") else "disable"}
    if settings.security_protocol.startswith("SASL"):
        wanted["sasl"] = KEDA_SASL[settings.sasl_mechanism]
    return wanted


def test_keda_connects_like_the_workers():
    meta = k8s("ScaledObject")["spec"]["triggers"][0]["metadata"]
    shipped = {key: meta[key] for key in ("sasl", "tls") if key in meta}
    assert shipped == keda_security_metadata(settings_from(k8s_worker_env()))
    # The secured ConfigMap needs other values; the README gives them for each protocol.
    # (plain credentials given, so that the _FILE variants are not read here)
    secured = keda_security_metadata(settings_from({**k8s_worker_env(secured=True),
                                                    "NEWSWIRE_SASL_USERNAME": "u", "NEWSWIRE_SASL_PASSWORD": "p"}))
    assert secured == {"sasl": "scram_sha512", "tls": "enable"}
    readme = (ROOT / "deploy" / "README.md").read_text()
    for value in (*KEDA_SASL.values(), "enable", "disable"):
        assert f"`{value}`" in readme, value


def test_keda_authenticates_with_the_workers_secret():
    trigger = k8s("ScaledObject")["spec"]["triggers"][0]
    auth = k8s("TriggerAuthentication")
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    assert set(auth["spec"]) == {"secretTargetRef"}
    refs = auth["spec"]["secretTargetRef"]
    for ref in refs:
        assert set(ref) == {"parameter", "name", "key"}
    params = {ref["parameter"]: ref for ref in refs}
    assert len(params) == len(refs)
    # KEDA's Kafka scaler parameters; `sasl`/`tls` sit in the trigger (KEDA refuses them in both places).
    assert set(params) <= {"username", "password", "ca", "cert", "key", "keyPassword"}
    assert {"username", "password", "ca"} <= set(params)
    # The same Secret the Deployment mounts, and for each credential the key the worker reads.
    mount, volume = kafka_secret_volume()
    assert {ref["name"] for ref in refs} == {volume["secretName"]}
    files = {**k8s("ConfigMap", AUTH_CONFIG)["data"], **commented_settings(K8S / "kafka-auth" / "configmap.yaml")}
    worker_reads = {"username": "NEWSWIRE_SASL_USERNAME_FILE", "password": "NEWSWIRE_SASL_PASSWORD_FILE",
                    "ca": "NEWSWIRE_SSL_CAFILE", "cert": "NEWSWIRE_SSL_CERTFILE", "key": "NEWSWIRE_SSL_KEYFILE",
                    "keyPassword": "NEWSWIRE_SSL_KEY_PASSWORD_FILE"}
    for parameter, ref in params.items():
        assert files[worker_reads[parameter]] == f"{mount.rstrip('/')}/{ref['key']}", parameter
    # Every key KEDA reads is one the example Secret shows.
    example = SECRET_EXAMPLE.read_text()
    for ref in refs:
        assert ref["key"] in secret_example()["stringData"] or f"# {ref['key']}:" in example, ref["key"]


def test_cpu_hpa_is_the_plain_alternative_with_the_same_bounds():
    hpa = k8s("HorizontalPodAutoscaler")["spec"]
    deployment = k8s("Deployment")
    assert (hpa["scaleTargetRef"]["kind"], hpa["scaleTargetRef"]["name"]) == ("Deployment",
                                                                            deployment["metadata"]["name"])
    assert hpa["maxReplicas"] <= settings_from(k8s_worker_env()).topic_partitions
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    # The two autoscalers live apart from the base manifests: `kubectl apply -f deploy/kubernetes/` applies neither.
    paths = {doc["kind"]: path for path, doc in k8s_documents()}
    assert paths["HorizontalPodAutoscaler"].parent == paths["ScaledObject"].parent != K8S


def test_pod_monitor_scrapes_the_metrics_port():
    monitor = k8s("PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    pod_labels = k8s("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == worker_container()["ports"][0]["name"] and endpoint["path"] == "/metrics"


def exported_metric_names() -> set[str]:
    """Every series name /metrics can carry (base names with their _total/_bucket/... suffixes)."""
    from workers.observability.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
                    "info": ("_info",)}
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def test_alert_rules_use_only_metrics_the_worker_exports():
    rule = k8s("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert len(rules) >= 4
    exported = exported_metric_names()
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r["alert"]
        assert re.fullmatch(r"Newswire[A-Za-z]+", r["alert"]) and r["labels"]["severity"]
        used = set(re.findall(r"newswire_[a-z_]+", r["expr"]))
        assert used and used <= exported, (r["alert"], used - exported)
        assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]


def test_deploy_readme_documents_every_metric_and_file():
    readme = (ROOT / "deploy" / "README.md").read_text()
    from workers.observability.metrics import Metrics

    for family in Metrics().registry.collect():
        shown = family.name + {"counter": "_total", "info": "_info"}.get(family.type, "")
        assert f"`{shown}`" in readme, shown
    for path, _ in k8s_documents():
        assert path.name in readme, path.name
    for name in ("Dockerfile", "docker-compose.yml", "requirements.lock", "lock.py", "submit-demo.sh"):
        assert name in readme, name


# -- docker compose ------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    """The compose-spec schema that check-jsonschema vendors (read as data: importing that package
    pulls in its CLI, whose newer releases need a click newer than Faust allows)."""
    import importlib.util

    spec = importlib.util.find_spec("check_jsonschema")
    assert spec and spec.submodule_search_locations, "check-jsonschema is not installed"
    package = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((package / "builtin_schemas" / "vendor" / "compose-spec.json").read_text())


def test_compose_file_validates_against_the_compose_spec():
    import jsonschema

    validator = jsonschema.Draft7Validator(compose_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    broken = compose()
    broken["services"]["worker"]["deploy"]["replica"] = 3
    assert list(validator.iter_errors(broken))  # the schema does catch a misspelling


def test_compose_env_vars_are_settings_and_parse():
    services = compose()["services"]
    for name in ("worker", "submitter"):
        env = compose_env(name)
        # No _FILE variants by default: they name files that only the override file provides.
        assert newswire_names(env) <= SETTING_NAMES, (name, newswire_names(env) - SETTING_NAMES)
        settings_from(env)
    worker_env = compose_env("worker")
    assert newswire_names(worker_env) >= REQUIRED
    assert worker_env["NEWSWIRE_WEB_HOST"] == "0.0.0.0"
    # The submitter writes to the same topics the workers read.
    for key in ("NEWSWIRE_BOOTSTRAP_SERVERS", "NEWSWIRE_INPUT_TOPIC", "NEWSWIRE_ARTICLES_TOPIC",
                "NEWSWIRE_DEADLETTER_TOPIC", "NEWSWIRE_TOPIC_PARTITIONS"):
        assert services["submitter"]["environment"][key] == services["worker"]["environment"][key], key


def test_compose_kafka_security_defaults_to_plaintext_and_follows_the_shell():
    security = ("NEWSWIRE_SECURITY_PROTOCOL", "NEWSWIRE_SASL_MECHANISM", "NEWSWIRE_SASL_USERNAME",
                "NEWSWIRE_SSL_CAFILE")
    for service in ("worker", "submitter"):
        raw = compose()["services"][service]["environment"]
        for name in security:  # taken from the shell, with a default: ${NAME:-default}
            assert re.fullmatch(r"\$\{" + name + r":-[^}]*\}", raw[name]), raw[name]
        plain = settings_from(compose_env(service))
        assert (plain.security_protocol, plain.sasl_username, plain.ssl_cafile) == ("PLAINTEXT", "", "")
        shell = {"NEWSWIRE_SECURITY_PROTOCOL": "SSL", "NEWSWIRE_SASL_MECHANISM": "PLAIN",
                 "NEWSWIRE_SSL_CAFILE": "/run/secrets/kafka-ca"}
        chosen = settings_from(compose_env(service, shell))
        assert (chosen.security_protocol, chosen.sasl_mechanism, chosen.ssl_cafile) == (
            "SSL", "PLAIN", "/run/secrets/kafka-ca")
    # A compose secret whose file is missing stops `docker compose up`: none in the default file.
    assert "secrets" not in compose()
    assert not any("secrets" in service for service in compose()["services"].values())


def test_compose_override_validates_and_mounts_the_credentials_as_secrets(tmp_path):
    import jsonschema

    override = yaml.safe_load(COMPOSE_AUTH.read_text())
    validator = jsonschema.Draft7Validator(compose_schema())
    assert [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(override)] == []
    assert set(override["services"]) == {"worker", "submitter"}  # everything that talks to Kafka
    password = tmp_path / "kafka-password"
    password.write_text("s3cret-for-the-test\n")
    ca = tmp_path / "kafka-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    shell = {"NEWSWIRE_BOOTSTRAP_SERVERS": "kafka-1.example.com:9093", "NEWSWIRE_SASL_USERNAME": "newswire",
             "NEWSWIRE_KAFKA_PASSWORD_FILE": str(password), "NEWSWIRE_KAFKA_CA_FILE": str(ca)}
    sources = {name: Path(interpolate(secret["file"], shell)) for name, secret in override["secrets"].items()}
    for service in ("worker", "submitter"):
        env = compose_env(service, shell, COMPOSE_AUTH)
        assert newswire_names(env) <= SETTING_NAMES | SECRET_FILE_NAMES
        mounted = {f"/run/secrets/{name}": sources[name] for name in override["services"][service]["secrets"]}
        # Every path the settings read is a secret this service mounts (compose's default target).
        paths = {name: value for name, value in env.items() if value.startswith("/run/secrets/")}
        assert set(paths.values()) == set(mounted), (paths, mounted)
        as_mounted = {name: str(mounted[value]) if value in mounted else value for name, value in env.items()}
        settings = settings_from(as_mounted)
        assert settings.security_protocol == "SASL_SSL"
        assert (settings.sasl_username, settings.sasl_password) == ("newswire", "s3cret-for-the-test")
        assert settings.ssl_cafile == str(ca)
        assert "NEWSWIRE_SASL_PASSWORD" not in env  # the password itself never in the environment
    # Without the variables it needs, compose refuses to start rather than connecting to the wrong place.
    with pytest.raises(KeyError):
        compose_env("worker", {}, COMPOSE_AUTH)
    with pytest.raises(KeyError):
        interpolate(override["secrets"]["kafka-password"]["file"], {})


def test_compose_runs_a_kraft_kafka_and_several_workers_in_one_group():
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@kafka:")
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", key
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert int(worker["environment"]["NEWSWIRE_TOPIC_PARTITIONS"]) >= worker["deploy"]["replicas"]
    assert "ports" not in worker  # replicas would fight over a published host port
    # The workers reach Kafka on an advertised listener.
    bootstrap = worker["environment"]["NEWSWIRE_BOOTSTRAP_SERVERS"]
    assert f"//{bootstrap}" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert "healthcheck" in kafka


def test_compose_grace_period_outlasts_the_shutdown_timeout():
    worker = compose()["services"]["worker"]
    grace = worker["stop_grace_period"]
    match = re.fullmatch(r"(\d+)s", grace)
    assert match, grace
    shutdown = float(worker["environment"].get("NEWSWIRE_SHUTDOWN_TIMEOUT_S", DEFAULT_SHUTDOWN_S))
    assert int(match.group(1)) >= shutdown + 10


def test_compose_demo_pages_are_served_and_allowed():
    services = compose()["services"]
    allowed = services["worker"]["environment"]["NEWSWIRE_FETCH_ALLOW_HOSTS"].split(",")
    pages_url = services["submitter"]["environment"]["DEMO_PAGES_URL"]
    host = pages_url.split("//", 1)[1].split(":", 1)[0]
    assert host in services and host in allowed  # a compose service, allowed by name
    for service in ("pages", "submitter"):
        for volume in services[service]["volumes"]:
            source = volume.split(":", 1)[0]
            assert (ROOT / source).exists(), source
    assert list((ROOT / "demo" / "pages").glob("*.html"))
    script = services["submitter"]["entrypoint"][-1]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["submitter"]["volumes"]}
    assert script in mounted and (ROOT / mounted[script]).is_file()
    assert services["submitter"]["restart"] == "no"


def test_the_submitter_script_is_posix_shell():
    import subprocess

    script = ROOT / "deploy" / "compose" / "submit-demo.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True, check=False).returncode == 0
    text = script.read_text()
    assert "newswire topics" in text and "newswire submit" in text and "newswire tail" in text


# -- Dockerfile and lock -------------------------------------------------------------


def dockerfile_uid() -> int:
    (user,) = re.findall(r"^USER (\d+)(?::\d+)?$", DOCKERFILE.read_text(), re.MULTILINE)
    return int(user)


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert [name for _, name in stages] == ["builder", "runtime"]
    assert "COPY --from=builder /opt/newswire /opt/newswire" in text
    assert dockerfile_uid() != 0
    assert '\nENTRYPOINT ["newswire"]\n' in text and '\nCMD ["worker"]\n' in text
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text.replace("\\\n", " "), re.MULTILINE)
    assert healthcheck and "/healthz" in healthcheck.group(1) and "NEWSWIRE_WEB_PORT" in healthcheck.group(1)
    json.loads(healthcheck.group(1))  # exec form


def test_dockerfile_env_vars_are_settings_and_bind_beyond_loopback():
    env = dockerfile_env()
    assert newswire_names(env) <= SETTING_NAMES
    settings = settings_from(env)
    assert settings.web_host == "0.0.0.0"
    assert settings.data_dir.startswith("/var/lib/newswire")


def _pip_installs(text: str) -> list[list[str]]:
    """The arguments of every `python -m pip install` in a Makefile or Dockerfile, normalised."""
    commands = []
    for match in re.finditer(r"python -m pip install ([^\n&\\]+)", text.replace("\\\n", " ")):
        args = [a for a in shlex.split(match.group(1)) if a not in ("--quiet", "-q")]
        commands.append(args)
    return commands


def test_dockerfile_installs_with_the_commands_ci_runs():
    makefile = _pip_installs((ROOT / "Makefile").read_text())
    docker = _pip_installs(DOCKERFILE.read_text())

    def as_image(args: list[str]) -> list[str]:
        # CI installs editable with the test extras and the image neither; the lock is used by both or the image.
        out, skip = [], False
        for i, arg in enumerate(args):
            if skip:
                skip = False
                continue
            if arg == "-c" and args[i + 1] == "requirements.lock":
                skip = True
                continue
            if arg == "-e":
                continue
            out.append(re.sub(r"^\.\[[^]]*\]$", ".", arg))
        return out

    assert makefile, "no pip install in the Makefile"
    expected = [as_image(args) for args in makefile]
    actual = [as_image(args) for args in docker if args != ["-r", "requirements.lock"]]
    assert actual == expected
    assert ["-c", "requirements.lock", "."] in docker  # the package itself is installed against the lock
    assert ["-r", "requirements.lock"] in docker       # the dependency layer, cached apart from the code


def test_dockerignore_keeps_what_the_build_copies():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # an allow-list: nothing else (venv, .git, test data) reaches the build
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(line.split()[1:-1])
    assert copied and copied <= allowed, copied - allowed
    for path in copied:
        assert (ROOT / path).exists(), path


def lock_pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_every_runtime_dependency():
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        spec = importlib.util.spec_from_file_location("newswire_lock", ROOT / "deploy" / "lock.py")
        lock = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(lock)
    finally:
        sys.path.pop(0)
    needed = lock.runtime_closure()
    pins = lock_pins()
    missing = set(needed) - set(pins)
    assert not missing, f"requirements.lock lacks {sorted(missing)}: regenerate it with deploy/lock.py"
    assert not set(pins) & lock.UNPINNED


def test_lock_satisfies_the_declared_dependencies():
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = lock_pins()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in declared:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, name
        assert req.specifier.contains(pins[name], prereleases=True), (line, pins[name])


def test_settings_module_fields_have_env_names():
    # Guards the premise of the checks above: every setting has one NEWSWIRE_ name.
    assert all(name.startswith(PREFIX) for name in SETTING_NAMES)
    assert len(SETTING_NAMES) == len(dataclasses.fields(Settings))


# -- Grafana dashboard ------------------------------------------------------------------------------------


def dashboard_queries() -> list[str]:
    import json

    board = json.loads((K8S / "monitoring" / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def test_dashboard_queries_use_only_metrics_the_worker_exports():
    exported = exported_metric_names()
    queries = dashboard_queries()
    assert len(queries) >= 10
    used = {name for q in queries for name in re.findall(r"newswire_[a-z_]+", q)}
    assert used <= exported, used - exported
    # what the issue asks the dashboard to show
    for metric in ("newswire_site_outcomes_total", "newswire_publish_lag_seconds_bucket", "newswire_consumer_lag",
                   "newswire_pool_queue_depth", "newswire_partition_rereads_total", "newswire_dead_letters_total",
                   "newswire_assigned_partitions"):
        assert metric in used, metric
    for q in queries:
        assert q.count("(") == q.count(")"), q


def test_site_yield_alert_watches_the_site_metric():
    rules = {r["alert"]: r for group in k8s("PrometheusRule")["spec"]["groups"] for r in group["rules"]}
    rule = rules["NewswireSiteYieldCollapsed"]
    assert "newswire_site_outcomes_total" in rule["expr"] and "by (site)" in rule["expr"]
    assert "{{ $labels.site }}" in rule["annotations"]["summary"]
