#!/usr/bin/env python3
"""Reference Kafka client for the kafka-esm test rig (confluent_kafka, i.e. librdkafka).

Someone else's producer and consumer, so that our own client is checked against records
written and offsets committed by an independent implementation. Every sub-command speaks
JSON lines: records are read from stdin or written to stdout one JSON object a line, with
keys, values and header values in standard base64 (null stays null).

Sub-commands:
  produce        records from stdin -> topic; prints one delivery report a record
                 (with --partial, {"error": ...} for each one not delivered)
  consume        a group consumer; prints `--count` records, commits, exits
  create-topic   AdminClient CreateTopics
  list-offsets   earliest / latest / by timestamp for every partition of a topic
  committed      the group's committed offsets for every partition of a topic
  delete-records AdminClient DeleteRecords: moves a partition's log start offset up
  mock-cluster   starts librdkafka's mock cluster, prints its bootstrap, runs until stdin closes

Errors go to stderr and exit non-zero, so the Rust rig can report them.
"""
import argparse
import base64
import json
import logging
import re
import sys
import threading
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def unb64(text):
    return None if text is None else base64.b64decode(text)


def conf(args, extra):
    c = {"bootstrap.servers": args.bootstrap}
    for kv in args.config or []:
        k, _, v = kv.partition("=")
        c[k] = v
    c.update(extra)
    return c


def fail(msg):
    print(f"refclient: {msg}", file=sys.stderr)
    sys.exit(2)


def cmd_produce(args):
    extra = {
        "compression.type": args.compression,
        "linger.ms": args.linger_ms,
        "enable.idempotence": args.idempotent,
        "acks": "all",
    }
    if args.partial:
        # Every record gets its report (or its error) within the timeout.
        extra["message.timeout.ms"] = int(args.timeout * 1000)
    p = Producer(conf(args, extra))
    reports = {}
    errors = []

    # Reports arrive per partition, not in input order: each carries its input index.
    def on_delivery(index, err, msg):
        if err is not None:
            errors.append(str(err))
            reports[index] = {"error": str(err)}
        else:
            ts_type, ts = msg.timestamp()
            reports[index] = {"partition": msg.partition(), "offset": msg.offset(),
                              "timestamp": ts, "key": b64(msg.key())}

    index = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        kwargs = {"value": unb64(r.get("value")), "key": unb64(r.get("key")),
                  "on_delivery": (lambda i: lambda err, msg: on_delivery(i, err, msg))(index)}
        index += 1
        if r.get("partition") is not None:
            kwargs["partition"] = r["partition"]
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = r["timestamp"]
        if r.get("headers"):
            kwargs["headers"] = [(k, unb64(v)) for k, v in r["headers"]]
        while True:
            try:
                p.produce(args.topic, **kwargs)
                break
            except BufferError:
                p.poll(0.1)
    remaining = p.flush(args.timeout)
    if args.partial:
        # Under faults: a report or an error for every record, and success.
        for i in range(index):
            print(json.dumps(reports.get(i, {"error": "not delivered in time"})))
        return
    if remaining:
        fail(f"{remaining} records not delivered within {args.timeout}s")
    if errors:
        fail("delivery failed: " + "; ".join(errors[:5]))
    if len(reports) != index:
        fail(f"{len(reports)} of {index} records reported delivered")
    for i in range(index):
        print(json.dumps(reports[i]))


TS_TYPES = {confluent_kafka.TIMESTAMP_CREATE_TIME: "CREATE_TIME",
            confluent_kafka.TIMESTAMP_LOG_APPEND_TIME: "LOG_APPEND_TIME",
            confluent_kafka.TIMESTAMP_NOT_AVAILABLE: None}


def cmd_consume(args):
    c = Consumer(conf(args, {
        "group.id": args.group,
        "auto.offset.reset": args.reset,
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 200,
        "session.timeout.ms": 10000,
    }))
    c.subscribe([args.topic])
    got = 0
    deadline = time.monotonic() + args.timeout
    try:
        while got < args.count:
            if time.monotonic() > deadline:
                fail(f"consumed {got} of {args.count} records within {args.timeout}s")
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    continue
                fail(f"consume error: {msg.error()}")
            ts_type, ts = msg.timestamp()
            print(json.dumps({
                "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                "timestamp": ts, "timestamp_type": TS_TYPES.get(ts_type),
                "key": b64(msg.key()), "value": b64(msg.value()),
                "headers": [[k, b64(v)] for k, v in (msg.headers() or [])],
            }), flush=True)
            got += 1
        if args.commit and got:
            c.commit(asynchronous=False)
    finally:
        c.close()


def cmd_create_topic(args):
    if args.auto:
        # Brokers without CreateTopics (librdkafka's mock cluster) create a topic with
        # their default partition count when a producer asks for its metadata.
        p = Producer(conf(args, {}))
        n = len(partitions_of(p, args.topic, args.timeout))
        if n != args.partitions:
            fail(f"auto-created {args.topic} has {n} partitions, not {args.partitions}")
        print(json.dumps({"topic": args.topic, "partitions": n}))
        return
    a = AdminClient(conf(args, {}))
    futs = a.create_topics([NewTopic(args.topic, num_partitions=args.partitions,
                                     replication_factor=args.replication)],
                           operation_timeout=args.timeout)
    for _, f in futs.items():
        f.result(args.timeout)
    # Wait until the topic's partitions are visible in metadata.
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        md = a.list_topics(args.topic, timeout=args.timeout)
        t = md.topics.get(args.topic)
        if t is not None and t.error is None and len(t.partitions) == args.partitions:
            print(json.dumps({"topic": args.topic, "partitions": args.partitions}))
            return
        time.sleep(0.05)
    fail(f"topic {args.topic} not visible with {args.partitions} partitions")


def partitions_of(client, topic, timeout):
    md = client.list_topics(topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        fail(f"topic {topic}: {t.error if t else 'missing'}")
    return sorted(t.partitions)


def cmd_list_offsets(args):
    c = Consumer(conf(args, {"group.id": "refclient-list-offsets"}))
    try:
        out = {}
        for p in partitions_of(c, args.topic, args.timeout):
            lo, hi = c.get_watermark_offsets(TopicPartition(args.topic, p), timeout=args.timeout)
            entry = {"earliest": lo, "latest": hi}
            if args.timestamp is not None:
                [tp] = c.offsets_for_times([TopicPartition(args.topic, p, args.timestamp)],
                                           timeout=args.timeout)
                entry["by_timestamp"] = tp.offset
            out[str(p)] = entry
        print(json.dumps(out))
    finally:
        c.close()


def cmd_committed(args):
    c = Consumer(conf(args, {"group.id": args.group}))
    try:
        parts = [TopicPartition(args.topic, p)
                 for p in partitions_of(c, args.topic, args.timeout)]
        out = {str(tp.partition): tp.offset for tp in c.committed(parts, timeout=args.timeout)}
        print(json.dumps(out))
    finally:
        c.close()


def cmd_delete_records(args):
    a = AdminClient(conf(args, {}))
    futs = a.delete_records([TopicPartition(args.topic, args.partition, args.before)],
                            operation_timeout=args.timeout)
    for _, f in futs.items():
        res = f.result(args.timeout)
        print(json.dumps({"low_watermark": res.low_watermark}))


def cmd_mock_cluster(args):
    found = threading.Event()

    class Boot(logging.Handler):
        def emit(self, rec):
            m = re.search(r"replaced with (\S+)", rec.getMessage())
            if m and not found.is_set():
                found.set()
                print(json.dumps({"bootstrap": m.group(1).rstrip(",")}), flush=True)

    log = logging.getLogger("refclient.mock")
    log.addHandler(Boot())
    log.setLevel(logging.DEBUG)
    p = Producer({"bootstrap.servers": "unused:9092", "test.mock.num.brokers": args.brokers,
                  "debug": "mock"}, logger=log)
    # The cluster lives as long as this producer does: keep serving until stdin closes
    # (the Rust rig holds the pipe; when the test process goes, so does the cluster).
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    deadline = time.monotonic() + 10
    while not stop.is_set():
        p.poll(0.1)
        if not found.is_set() and time.monotonic() > deadline:
            fail("mock cluster did not report its bootstrap address")


def main():
    ap = argparse.ArgumentParser(prog="refclient")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(sp, bootstrap=True):
        if bootstrap:
            sp.add_argument("--bootstrap", required=True)
            sp.add_argument("--config", action="append", help="librdkafka property k=v")
        sp.add_argument("--timeout", type=float, default=30.0)
        return sp

    sp = common(sub.add_parser("produce"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--compression", default="none")
    sp.add_argument("--linger-ms", type=int, default=5)
    sp.add_argument("--idempotent", action="store_true")
    sp.add_argument("--partial", action="store_true",
                    help="print an error line for each record not delivered, exit 0")
    sp.set_defaults(fn=cmd_produce)

    sp = common(sub.add_parser("consume"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--group", required=True)
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--reset", default="earliest")
    sp.add_argument("--commit", action="store_true")
    sp.set_defaults(fn=cmd_consume)

    sp = common(sub.add_parser("create-topic"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--partitions", type=int, default=1)
    sp.add_argument("--replication", type=int, default=1)
    sp.add_argument("--auto", action="store_true", help="create by metadata request")
    sp.set_defaults(fn=cmd_create_topic)

    sp = common(sub.add_parser("list-offsets"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--timestamp", type=int)
    sp.set_defaults(fn=cmd_list_offsets)

    sp = common(sub.add_parser("committed"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--group", required=True)
    sp.set_defaults(fn=cmd_committed)

    sp = common(sub.add_parser("delete-records"))
    sp.add_argument("--topic", required=True)
    sp.add_argument("--partition", type=int, required=True)
    sp.add_argument("--before", type=int, required=True)
    sp.set_defaults(fn=cmd_delete_records)

    sp = common(sub.add_parser("mock-cluster"), bootstrap=False)
    sp.add_argument("--brokers", type=int, default=3)
    sp.set_defaults(fn=cmd_mock_cluster)

    args = ap.parse_args()
    try:
        args.fn(args)
    except KafkaException as e:
        fail(f"{args.cmd}: {e}")


if __name__ == "__main__":
    main()
