"""The function of tests/faults.rs, run by awslambdaric through kafka-esm's Runtime API.

For every record of a batch it appends one JSON line to the file named by
KAFKA_ESM_FAULTS_REPORT: topic, partition, offset, the record's sequence number (its
value is JSON: {"seq": N, "sleep": S}), the pid of the kafka-esm process that runs this
handler, this handler's pid, and the invocation's start and end (seconds since the
epoch). Lines are written once the batch is handled, one write(2) each on an O_APPEND
descriptor, so lines of concurrent handlers never interleave. A record asking for it
makes the whole invocation sleep S seconds first (past the mapping's SessionTimeout).
"""

import base64
import json
import os
import time

REPORT = os.environ["KAFKA_ESM_FAULTS_REPORT"]


def _kafka_esm_pid():
    """The nearest ancestor process named kafka-esm (found at start: a handler orphaned
    by a killed kafka-esm still reports the instance it belonged to)."""
    pid = os.getppid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            return None
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "kafka-esm":
            return pid
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return None


OWNER = _kafka_esm_pid()


def handle(event, context):
    start = time.time()
    records = [r for batch in event["records"].values() for r in batch]
    values = [json.loads(base64.b64decode(r["value"])) for r in records]
    pause = max((v.get("sleep", 0) for v in values), default=0)
    if pause:
        time.sleep(pause)
    end = time.time()
    fd = os.open(REPORT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for r, v in zip(records, values):
            line = {
                "topic": r["topic"],
                "partition": r["partition"],
                "offset": r["offset"],
                "seq": v["seq"],
                "esm": OWNER,
                "pid": os.getpid(),
                "start": start,
                "end": end,
            }
            os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)
    return None
