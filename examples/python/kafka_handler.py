"""A Kafka-triggered Lambda function in Python, as it would be deployed to AWS Lambda,
run by AWS's runtime client (awslambdaric, from PyPI). kafka-esm runs it on this host
through the Lambda Runtime API:

    kafka-esm run ... --function-command "python3 -m awslambdaric kafka_handler.handler"

from this directory (the runtime client imports the module from the working directory).
The twin of examples/kafka_handler.rs, with the same behaviour: one printed line per
record (on Lambda, a CloudWatch log line), and the event's fields as parsed returned.
A record whose value asks for it shows how kafka-esm handles a failing function:

- "fail": the handler raises RecordRejected: a function error, retried;
- "sleep N": the handler sleeps N seconds, past a short function timeout;
- "crash": the process exits without answering (Runtime.ExitError), and is restarted.
"""

import base64
import os
import sys
import time


class RecordRejected(Exception):
    pass


def text(field):
    """A base64 field as text (lossy for binary data), or None."""
    if field is None:
        return None
    return base64.b64decode(field).decode("utf-8", errors="replace")


def parsed(record):
    headers = [
        # AWS sends header values as arrays of signed bytes.
        {"key": name, "value": bytes(b & 0xFF for b in value).decode("utf-8", errors="replace")}
        for header in record["headers"]
        for name, value in header.items()
    ]
    return {
        "topic": record["topic"],
        "partition": record["partition"],
        "offset": record["offset"],
        "timestamp": record["timestamp"],
        "timestampType": record["timestampType"],
        "key": text(record.get("key")),
        "value": text(record.get("value")),
        "headers": headers,
    }


def handler(event, context):
    records = []
    for partition in sorted(event["records"]):
        for record in event["records"][partition]:
            value = text(record.get("value"))
            key = text(record.get("key"))
            # One write per line: awslambdaric makes stdout unbuffered, where print() writes
            # the text and its newline separately, and the lines of handler processes
            # running side by side (one per partition) would interleave on the shared pipe.
            sys.stdout.write(
                f"kafka_handler: received {record['topic']}-{record['partition']}@{record['offset']}"
                f" key={key if key is not None else '(null)'}"
                f" value={value if value is not None else '(null)'}\n"
            )
            sys.stdout.flush()
            if value == "fail":
                raise RecordRejected(
                    f"record {record['topic']}-{record['partition']}@{record['offset']} "
                    'rejected: its value is "fail"'
                )
            if value == "crash":
                os._exit(3)
            if value is not None and value.startswith("sleep "):
                time.sleep(int(value.split(" ", 1)[1]))
            records.append(parsed(record))
    return {
        "eventSource": event.get("eventSource"),
        "eventSourceArn": event.get("eventSourceArn"),
        "bootstrapServers": event.get("bootstrapServers"),
        "records": records,
        "requestId": context.aws_request_id,
        "functionArn": context.invoked_function_arn,
        "pid": os.getpid(),
    }
