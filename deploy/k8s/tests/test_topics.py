"""Kafka topics in Kubernetes follow the topic registry: generated files, chart output, drift."""

from __future__ import annotations

from typing import Any

import gen_topics
import manifests
import yaml
from vigie_core.bus.base import topic_specs
from vigie_core.topics import REGISTRY, Cleanup, Topic, TopicRegistry


def test_generated_files_match_the_registry() -> None:
    """Fails when a topic is added to (or changed in) the registry without rerunning
    `python deploy/scripts/gen_topics.py`."""
    for path, text in gen_topics.outputs().items():
        assert path.read_text() == text, (
            f"{path.relative_to(gen_topics.ROOT)} is stale: python deploy/scripts/gen_topics.py")


def test_every_registry_topic_and_dlq_is_a_kafka_topic() -> None:
    docs = [d for d in yaml.safe_load_all(gen_topics.STRIMZI_TOPICS.read_text()) if d]
    by_name = {d["metadata"]["name"]: d for d in docs}
    expected = {s.name: s for s in topic_specs(REGISTRY)}
    assert set(by_name) == set(expected)
    for name, spec in expected.items():
        topic = by_name[name]["spec"]
        assert topic["topicName"] == name
        assert topic["partitions"] == spec.partitions
        assert topic["replicas"] == 3
        config = {k: str(v) for k, v in topic["config"].items()}
        assert config.pop("min.insync.replicas") == "2"
        assert config == spec.config
    assert manifests.validate(docs) == []


def test_compaction_and_retention_come_through() -> None:
    docs = {d["metadata"]["name"]: d["spec"]["config"]
            for d in yaml.safe_load_all(gen_topics.STRIMZI_TOPICS.read_text()) if d}
    assert docs["vigie.cameras.v1"]["cleanup.policy"] == "compact"
    assert docs["vigie.cameras.v1"]["retention.ms"] == -1
    assert docs["vigie.frames.v1"]["cleanup.policy"] == "delete"
    assert docs["vigie.frames.v1"]["retention.ms"] == 3_600_000
    assert docs["vigie.frames.v1.dlq"]["retention.ms"] == 14 * 86_400_000


def test_a_new_registry_topic_is_generated(monkeypatch: Any) -> None:
    """What happens when an engineer adds vigie.signals.v1 to the registry."""
    from vigie.stats.v1.stats_pb2 import CountsAggregated

    signals = Topic("vigie.signals.v1", CountsAggregated, "camera_id", "Attention signals.",
                    partitions=6, cleanup=Cleanup.DELETE)
    extended = TopicRegistry([*(t for t in REGISTRY if t.name != signals.name), signals])
    monkeypatch.setattr(gen_topics, "REGISTRY", extended)
    names = [t["name"] for t in gen_topics.topic_list()]
    assert names[-2:] == ["vigie.signals.v1", "vigie.signals.v1.dlq"]
    strimzi = {d["metadata"]["name"]: d for d in gen_topics.kafka_topics()}
    assert strimzi["vigie.signals.v1"]["spec"]["partitions"] == 6
    # ... and the committed files are then stale, which the first test reports.
    assert gen_topics.chart_file() != gen_topics.CHART_TOPICS.read_text()


def test_chart_renders_the_generated_topics(default_docs: list[dict[str, Any]]) -> None:
    rendered = {d["metadata"]["name"]: d for d in default_docs if d["kind"] == "KafkaTopic"}
    standalone = {d["metadata"]["name"]: d
                  for d in yaml.safe_load_all(gen_topics.STRIMZI_TOPICS.read_text()) if d}
    assert set(rendered) == set(standalone)
    for name, doc in standalone.items():
        assert rendered[name]["spec"] == doc["spec"], name
        assert rendered[name]["metadata"]["labels"]["strimzi.io/cluster"] == "vigie"
        # Deleting a KafkaTopic deletes its data: uninstalling the chart keeps topics.
        assert rendered[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_topic_replicas_and_min_isr_are_values(helm: str) -> None:
    docs = manifests.render(sets={"topics.strimzi.replicas": "1", "topics.strimzi.cluster": "c2",
                                  "topics.strimzi.namespace": "kafka"})
    topics = [d for d in docs if d["kind"] == "KafkaTopic"]
    assert topics and all(t["spec"]["replicas"] == 1 for t in topics)
    assert all(t["spec"]["config"]["min.insync.replicas"] == 1 for t in topics)
    assert {t["metadata"]["namespace"] for t in topics} == {"kafka"}
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics} == {"c2"}
    off = manifests.render(sets={"topics.strimzi.enabled": "false", "topics.job.enabled": "true"})
    assert not [d for d in off if d["kind"] == "KafkaTopic"]
    (job,) = [d for d in off if d["kind"] == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["vigie", "topics", "create"]


def test_plain_manifests_are_up_to_date(helm: str) -> None:
    for name in manifests.PLAIN:
        path = manifests.MANIFESTS / name
        assert path.read_text() == manifests.plain_manifest(name), (
            f"{path.name} is stale: python deploy/scripts/manifests.py write")
