"""Offsets and consumer-group lag read through Kafka's AdminClient."""

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka import TopicPartition as KafkaPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from iotstream.log.kafka._client import KafkaException, translate
from iotstream.log.types import GroupLag, TopicPartition

__all__ = ["committed_offsets", "group_ids", "lag", "list_offsets", "owners"]


def list_offsets(
    admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec, timeout_s: float
) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    request = {KafkaPartition(tp.topic, tp.partition): spec for tp in partitions}
    try:
        futures = admin.list_offsets(request, request_timeout=timeout_s)
        return {
            TopicPartition(p.topic, p.partition): int(f.result(timeout=timeout_s).offset)
            for p, f in futures.items()
        }
    except KafkaException as err:
        raise translate(err, "list offsets") from err


def group_ids(admin: AdminClient, timeout_s: float) -> list[str]:
    try:
        listing = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s)
    except KafkaException as err:
        raise translate(err, "list consumer groups") from err
    return sorted(g.group_id for g in listing.valid)


def committed_offsets(admin: AdminClient, group: str, timeout_s: float) -> dict[TopicPartition, int]:
    try:
        future = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
        )
        result = future[group].result(timeout=timeout_s)
    except KafkaException as err:
        raise translate(err, f"read offsets of group {group!r}") from err
    return {
        TopicPartition(p.topic, p.partition): int(p.offset)
        for p in result.topic_partitions or []
        if p.offset >= 0
    }


def owners(admin: AdminClient, group: str, timeout_s: float) -> dict[TopicPartition, str]:
    try:
        described = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result(
            timeout=timeout_s
        )
    except KafkaException as err:
        raise translate(err, f"describe group {group!r}") from err
    return {
        TopicPartition(p.topic, p.partition): member.member_id
        for member in described.members
        for p in (member.assignment.topic_partitions if member.assignment else [])
    }


def lag(
    group: str,
    committed: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    owned_by: dict[TopicPartition, str],
) -> list[GroupLag]:
    return [
        GroupLag(group, tp.topic, tp.partition, committed[tp], ends[tp], owned_by.get(tp))
        for tp in sorted(committed)
        if tp in ends
    ]
