"""The deployment files: valid for their tools, and consistent with the settings and the worker.

* Kubernetes manifests validate against the Kubernetes OpenAPI schemas shipped
  by ``kubernetes-validate`` (offline, strict: unknown fields are errors); the
  CRDs (KEDA ScaledObject, Prometheus Operator PodMonitor) get structural checks.
* docker-compose.yml validates against the compose-spec JSON schema shipped by
  ``check-jsonschema``.
* Every NEWSWIRE_* variable they set is a real setting, the values parse, and
  the ones a deployment cannot do without are set.
* The Dockerfile installs with the commands CI runs (the Makefile's), from the
  lock, and requirements.lock pins every runtime dependency.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from workers.settings import PREFIX, Settings, env_name, setting_fields

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"

SETTING_NAMES = {env_name(f) for f in setting_fields()}
SECRET_FILE_NAMES = {env_name(f) + "_FILE" for f in setting_fields() if f.metadata["secret"]}
# What no deployment of the worker can leave to the defaults (they point at this machine or at nothing).
REQUIRED = {"NEWSWIRE_BOOTSTRAP_SERVERS", "NEWSWIRE_INPUT_TOPIC", "NEWSWIRE_ARTICLES_TOPIC",
            "NEWSWIRE_DEADLETTER_TOPIC", "NEWSWIRE_GROUP_ID", "NEWSWIRE_WEB_HOST", "NEWSWIRE_WEB_PORT"}
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"}
DEFAULT_SHUTDOWN_S = next(f.default for f in setting_fields() if f.name == "shutdown_timeout_s")


# -- loading -------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def k8s(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_documents() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def worker_container() -> dict[str, Any]:
    (container,) = [c for c in k8s("Deployment")["spec"]["template"]["spec"]["containers"] if c["name"] == "worker"]
    return container


def k8s_worker_env() -> dict[str, str]:
    """The env a worker pod gets: the ConfigMap (envFrom) and the plain values of env (secrets left out)."""
    env = dict(k8s("ConfigMap")["data"])
    container = worker_container()
    assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [k8s("ConfigMap")["metadata"]["name"]]
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


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
    for path, doc in k8s_documents():
        if doc["kind"] in CRD_KINDS:
            continue  # no schema ships for CRDs: checked structurally below
        kubernetes_validate.validate(doc, version, strict=True)  # raises on any error or unknown field
        validated.add(doc["kind"])
    assert {"ConfigMap", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= validated


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
    names = newswire_names(k8s_worker_env()) | {item["name"] for item in container.get("env", [])}
    assert names <= SETTING_NAMES | SECRET_FILE_NAMES, names - SETTING_NAMES - SECRET_FILE_NAMES
    settings = settings_from(k8s_worker_env())  # raises ConfigError on a bad value
    assert REQUIRED <= newswire_names(k8s_worker_env())
    assert settings.web_host == "0.0.0.0"
    # 0 means one process per core of the node, not of the pod's CPU limit.
    assert settings.pool_size >= 1
    assert settings.log_format == "json"
    for item in container.get("env", []):
        if "valueFrom" in item:  # secrets come from a Secret, and are optional while the cluster is PLAINTEXT
            assert item["name"] in SETTING_NAMES | SECRET_FILE_NAMES
            assert item["valueFrom"]["secretKeyRef"]["optional"] is True


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
    import workers.web  # noqa: F401  (registers the pages)
    from workers.app import app

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
    from workers.metrics import Metrics

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
    from workers.metrics import Metrics

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
    package = Path(list(spec.submodule_search_locations)[0])
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
        env = services[name]["environment"]
        assert newswire_names(env) <= SETTING_NAMES, (name, newswire_names(env) - SETTING_NAMES)
        settings_from(env)
    worker_env = services["worker"]["environment"]
    assert REQUIRED <= newswire_names(worker_env)
    assert worker_env["NEWSWIRE_WEB_HOST"] == "0.0.0.0"
    # The submitter writes to the same topics the workers read.
    for key in ("NEWSWIRE_BOOTSTRAP_SERVERS", "NEWSWIRE_INPUT_TOPIC", "NEWSWIRE_ARTICLES_TOPIC",
                "NEWSWIRE_DEADLETTER_TOPIC", "NEWSWIRE_TOPIC_PARTITIONS"):
        assert services["submitter"]["environment"][key] == worker_env[key], key


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
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "newswire topics" in text and "newswire submit" in text and "newswire tail" in text


# -- Dockerfile and lock -------------------------------------------------------------


def dockerfile_uid() -> int:
    (user,) = re.findall(r"^USER (\d+)(?::\d+)?$", DOCKERFILE.read_text(), re.M)
    return int(user)


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M)
    assert [name for _, name in stages] == ["builder", "runtime"]
    assert "COPY --from=builder /opt/newswire /opt/newswire" in text
    assert dockerfile_uid() != 0
    assert '\nENTRYPOINT ["newswire"]\n' in text and '\nCMD ["worker"]\n' in text
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text.replace("\\\n", " "), re.M)
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
