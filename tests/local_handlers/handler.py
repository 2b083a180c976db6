"""Handlers for tests/local_runtime.rs, run by AWS's runtime client (awslambdaric)
against kafka-esm's Lambda Runtime API."""

import os
import time


def count(event, context):
    """Echoes the number of records in a Kafka event, and what Lambda told us."""
    records = sum(len(batch) for batch in event.get("records", {}).values())
    return {
        "records": records,
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "pid": os.getpid(),
    }


class OrderRejected(Exception):
    pass


def fail(event, context):
    raise OrderRejected("order 42 is not valid")


def slow(event, context):
    """Sleeps past the timeout when asked; answers with its pid otherwise."""
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid()}


def crash(event, context):
    """Exits the process without answering when asked."""
    if event.get("crash"):
        os._exit(1)
    return {"pid": os.getpid()}


def report(event, context):
    """Writes the offsets it received, one JSON line per invocation, to the file (a FIFO)
    named by KAFKA_ESM_TEST_REPORT, for tests/mapping.rs."""
    import json

    offsets = [r["offset"] for batch in event["records"].values() for r in batch]
    records = [f"{r['partition']}:{r['offset']}" for batch in event["records"].values() for r in batch]
    line = {"eventSource": event["eventSource"], "offsets": offsets, "records": records}
    with open(os.environ["KAFKA_ESM_TEST_REPORT"], "a") as out:
        out.write(json.dumps(line) + "\n")
    return None


def gate(event, context):
    """For the pool tests: with {"gate": PORT}, connects to the test on PORT, sends its
    pid and blocks until the test answers, so the test sees which processes run at once;
    with {"crash": true}, exits without answering."""
    import socket

    if event.get("crash"):
        os._exit(1)
    if event.get("gate"):
        with socket.create_connection(("127.0.0.1", event["gate"])) as s:
            s.sendall(f"{os.getpid()}\n".encode())
            s.makefile().readline()
    return {"pid": os.getpid()}


def environment(event, context):
    """Answers with the whole environment the handler was started with, and its pid."""
    return {"env": dict(os.environ), "pid": os.getpid()}



def forks(event, context):
    """Starts a child process, as a wrapper script or a worker pool would, writes its pid
    to the file named by {"pid_file": PATH}, then sleeps past the timeout."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    with open(event["pid_file"], "w") as out:
        out.write(str(child.pid))
    time.sleep(300)
