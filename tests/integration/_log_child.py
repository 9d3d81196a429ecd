"""A separate process for the crash and multi-process tests: `python _log_child.py MODE URL ...`.

produce-forever URL FIRST_SEQ ACK_FILE: produce sequence numbers at full speed and append
    "partition offset seq" to ACK_FILE for every acknowledged record, until killed.
produce URL FIRST_SEQ COUNT: produce COUNT sequence numbers, flush, exit.
consume URL GROUP OUT_FILE IDLE_S: consume in GROUP, append each value to OUT_FILE, commit after
    each batch; exit after IDLE_S seconds without records.
"""

import collections
import functools
import os
import sys
import time

from iotstream.log import RecordMetadata, TopicSpec, open_log

TOPIC = "shared"


def produce_forever(url: str, first_seq: int, ack_file: str) -> None:
    log = open_log(url, maintenance_interval_ms=0)
    log.create_topic(TopicSpec(TOPIC, partitions=4), exist_ok=True)
    producer = log.producer()
    acked: collections.deque[str] = collections.deque()

    def on_delivery(seq: int, error: Exception | None, metadata: RecordMetadata) -> None:
        if error is None:
            acked.append(f"{metadata.partition} {metadata.offset} {seq}\n")

    fd = os.open(ack_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    seq = first_seq
    while True:
        for _ in range(500):
            producer.produce(
                TOPIC, b"%d" % seq, key=b"k%d" % (seq % 16), on_delivery=functools.partial(on_delivery, seq)
            )
            seq += 1
        lines = [acked.popleft() for _ in range(len(acked))]
        if lines:
            os.write(fd, "".join(lines).encode())


def produce(url: str, first_seq: int, count: int) -> None:
    with open_log(url, maintenance_interval_ms=0) as log, log.producer() as producer:
        for seq in range(first_seq, first_seq + count):
            producer.produce(TOPIC, b"%d" % seq, key=b"k%d" % (seq % 16))
        assert producer.flush(60) == 0


def consume(url: str, group: str, out_file: str, idle_s: float) -> None:
    with open_log(url, maintenance_interval_ms=0, heartbeat_interval_ms=100, session_timeout_ms=3_000) as log:
        consumer = log.consumer(group)
        consumer.subscribe(
            [TOPIC], on_revoke=lambda tps: consumer.commit({tp: consumer.position(tp) for tp in tps})
        )
        last_record = time.monotonic()
        with open(out_file, "a") as out:
            while time.monotonic() - last_record < idle_s:
                records = consumer.poll(max_records=200, timeout_s=0.1)
                if records:
                    out.write("".join(f"{(r.value or b'').decode()}\n" for r in records))
                    out.flush()
                    consumer.commit()
                    last_record = time.monotonic()
        consumer.close()


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "produce-forever":
        produce_forever(url, int(rest[0]), rest[1])
    elif mode == "produce":
        produce(url, int(rest[0]), int(rest[1]))
    elif mode == "consume":
        consume(url, rest[0], rest[1], float(rest[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
