"""A raw Runtime API client for tests/local_runtime.rs: sends what a real runtime
client never would, records the status of each answer, then answers its one invocation
with the event and those statuses."""

import http.client
import json
import os

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
PREFIX = "/2018-06-01/runtime"


def status(method, path, body=None):
    conn = http.client.HTTPConnection(API, timeout=30)
    try:
        conn.request(method, path, body=body)
        return conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        # The server may answer an oversized body before reading all of it.
        try:
            return conn.getresponse().status
        except Exception as e:  # noqa: BLE001
            return repr(e)
    finally:
        conn.close()


statuses = [
    status("GET", "/2018-06-01/elsewhere"),
    status("POST", PREFIX + "/invocation/next", b"{}"),
    status("GET", PREFIX + "/invocation/some-id/response"),
    status("POST", PREFIX + "/invocation/unknown-id/response", b"{}"),
]
conn = http.client.HTTPConnection(API, timeout=60)
conn.request("GET", PREFIX + "/invocation/next")
answer = conn.getresponse()
event = json.loads(answer.read())
request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
assert answer.getheader("Lambda-Runtime-Deadline-Ms").isdigit()
assert answer.getheader("Lambda-Runtime-Trace-Id").startswith("Root=1-")
assert answer.getheader("Lambda-Runtime-Invoked-Function-Arn").endswith(":function:probe")
statuses.append(
    status("POST", f"{PREFIX}/invocation/{request_id}/error", b"x" * (7 * 1024 * 1024))
)
statuses.append(status("POST", f"{PREFIX}/invocation/{request_id}/bogus", b"{}"))
body = json.dumps({"event": event, "statuses": statuses}).encode()
conn.request("POST", f"{PREFIX}/invocation/{request_id}/response", body=body)
print("probe: response answered", conn.getresponse().status, flush=True)
