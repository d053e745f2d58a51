"""The local cluster's node configuration (the cluster itself runs in tests/integration/delivery/test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

from workers.local.cluster import ClusterNode, LocalCluster, cluster_properties


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_every_node_votes_and_replicates_like_production(tmp_path: Path):
    cluster = LocalCluster(tmp_path, size=3)
    ports = {port for node in cluster.nodes for port in (node.port, node.controller_port)}
    assert len(ports) == 6  # no two listeners share a port
    configs = [parse(cluster_properties(node, cluster.nodes)) for node in cluster.nodes]
    voters = {c["controller.quorum.voters"] for c in configs}
    assert len(voters) == 1 and len(voters.pop().split(",")) == 3
    for node, config in zip(cluster.nodes, configs, strict=True):
        assert config["node.id"] == str(node.node_id)
        assert config["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{node.port}"
        assert config["log.dirs"] == str(node.dir / "data")
        assert config["default.replication.factor"] == "3"
        assert config["min.insync.replicas"] == "2"
        assert config["transaction.state.log.replication.factor"] == "3"
        assert config["transaction.state.log.min.isr"] == "2"
        assert config["offsets.topic.replication.factor"] == "3"
        assert config["unclean.leader.election.enable"] == "false"
    assert cluster.bootstrap == ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)


def test_a_single_node_cluster_needs_no_second_replica(tmp_path: Path):
    node = ClusterNode(1, 9001, 9002, tmp_path)
    config = parse(cluster_properties(node, [node]))
    assert config["min.insync.replicas"] == "1" and config["default.replication.factor"] == "1"
