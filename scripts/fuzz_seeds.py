"""The seed generator behind scripts/fuzz-seeds (see there). Replaces the seeds of the
targets it writes (fuzz/seeds/TARGET/NAME, named by the SHA-1 of their content)."""

import argparse
import hashlib
import json
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SEEDS = Path("fuzz/seeds")
MAX_SEED = 64 << 10
PASSWORD = "rig-key-password"  # the keys target's password for first byte 2


def write_seed(target, data, limit=None):
    if len(data) > MAX_SEED:
        return False
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if limit is not None and len(list(d.iterdir())) >= limit:
        return False
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
    return True


# --- the broker's responses ------------------------------------------------------------

# API key -> (the responses target's decoder index, first flexible version or None).
# ApiVersions responses always have a v0 header; SaslHandshake is never flexible.
DECODERS = {
    18: (0, None), 3: (1, 9), 1: (2, 12), 10: (3, 3), 11: (4, 6), 14: (5, 4),
    12: (6, 4), 13: (7, 4), 2: (8, 6), 9: (9, 6), 8: (10, 8), 0: (11, 9),
    22: (12, 2), 17: (13, None), 36: (14, 2), 15: (17, 5),
}


def read_uvarint(buf, pos):
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def skip_tags(buf, pos):
    n, pos = read_uvarint(buf, pos)
    for _ in range(n):
        _, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
    return pos


def crc32c(data, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record_batches(body):
    """The v2 record batches in a frame: wherever a length, magic 2 and CRC agree."""
    i = 0
    while i + 61 <= len(body):
        length = struct.unpack_from(">i", body, i + 8)[0]
        end = i + 12 + length
        if body[i + 16] == 2 and 49 <= length and end <= len(body):
            crc = struct.unpack_from(">I", body, i + 17)[0]
            if crc32c(body[i + 21:end]) == crc:
                yield bytes(body[i:end])
                i = end
                continue
        i += 1


class Recorder:
    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def response(self, key, version, frame):
        if key not in DECODERS:
            return
        which, flexible = DECODERS[key]
        pos = 4  # correlation id
        if flexible is not None and version >= flexible:
            pos = skip_tags(frame, pos)
        body = frame[pos:]
        if key == 1:
            for batch in record_batches(body):
                write_seed("record_batches", b"\x01" + batch, limit=48)
        with self.lock:
            n = self.counts.get((key, version), 0)
            if n >= 6:
                return
            if write_seed("responses", bytes([which, version + 1]) + body):
                self.counts[(key, version)] = n + 1
        if key == 36:
            self.scram_message(version, body)


    def scram_message(self, version, body):
        """A SaslAuthenticate response's auth bytes, as the scram target's seeds: a real
        server-first (its nonce and iteration count adapted to the target's fixed client
        nonce "n" and iteration cap), or a server-final."""
        pos = 2  # error code
        if version >= 2:
            n, pos = read_uvarint(body, pos)
            pos += max(n - 1, 0)  # error message (compact nullable string)
            n, pos = read_uvarint(body, pos)
            auth = body[pos:pos + n - 1]
        else:
            (n,) = struct.unpack_from(">h", body, pos)
            pos += 2 + max(n, 0)
            (n,) = struct.unpack_from(">i", body, pos)
            auth = body[pos + 4:pos + 4 + n]
        auth = bytes(auth)
        if auth.startswith(b"r="):
            fields = dict(f.split(b"=", 1) for f in auth.split(b","))
            adapted = b"r=n" + fields[b"r"][-24:] + b",s=" + fields[b"s"] + b",i=16"
            for which in (0, 1):
                write_seed("scram", bytes([which]) + adapted + b"\0v=AAAA")
        elif auth.startswith(b"v="):
            write_seed("scram", b"\0r=nABCD,s=QSXCR+Q6sek8bf92,i=16\0" + auth)


def pump(src, dst, on_frame):
    buf = b""
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            dst.sendall(chunk)
            buf += chunk
            while len(buf) >= 4:
                size = struct.unpack_from(">i", buf)[0]
                if len(buf) < 4 + size:
                    break
                on_frame(buf[4:4 + size])
                buf = buf[4 + size:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listener, broker_port, recorder):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            broker = socket.create_connection(("127.0.0.1", broker_port))
        except OSError:  # the broker is gone: a client reconnecting after close()
            client.close()
            continue
        pending = {}

        def request(frame):
            key, version, corr = struct.unpack_from(">hhi", frame)
            pending[corr] = (key, version)

        def response(frame):
            (corr,) = struct.unpack_from(">i", frame)
            if corr in pending:
                key, version = pending.pop(corr)
                recorder.response(key, version, frame)

        threading.Thread(target=pump, args=(client, broker, request), daemon=True).start()
        threading.Thread(target=pump, args=(broker, client, response), daemon=True).start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Broker:
    """nisshi on a free port, advertising the recording proxy's port."""

    def __init__(self, rig, recorder, users=()):
        self.nisshi = str(Path(rig) / "nisshi-0.8.1/bin/nisshi")
        self.dir = tempfile.TemporaryDirectory(prefix="kafka-esm-seeds-")
        self.port = free_port()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.proxy_port = self.listener.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.proxy_port}"
        storage = "sqlite://nisshi.db" if users else "memory://nisshi/"
        self.args = [self.nisshi, "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                     "--advertised-listener-url", f"tcp://127.0.0.1:{self.proxy_port}",
                     "--storage-engine", storage, "--group-initial-rebalance-delay", "100ms",
                     "--silent"]
        if users:
            # Users are created through a broker without authentication, which then
            # restarts on the same database requiring it.
            self.process = subprocess.Popen(self.args, cwd=self.dir.name)
            wait_port(self.port)
            for mech, user, password in users:
                subprocess.run([self.nisshi, "user", "create", "--broker",
                                f"tcp://127.0.0.1:{self.port}", "--mechanism", mech, user,
                                password], cwd=self.dir.name, check=True, capture_output=True)
            self.process.kill()
            self.process.wait()
            self.args.append("--authentication")
        self.process = subprocess.Popen(self.args, cwd=self.dir.name)
        wait_port(self.port)
        threading.Thread(target=proxy, args=(self.listener, self.port, recorder),
                         daemon=True).start()

    def close(self):
        self.process.kill()
        self.listener.close()
        self.dir.cleanup()


def capture_broker(rig):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    recorder = Recorder()
    broker = Broker(rig, recorder)
    try:
        bootstrap = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic("seeds", 3, 1)]).values():
            f.result()
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
            p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                          "enable.idempotence": codec == "zstd", "linger.ms": 5})
            for i in range(30):
                p.produce("seeds", key=f"k{i % 5}".encode(),
                          value=json.dumps({"n": i, "codec": codec}).encode() * (1 + i % 3),
                          headers=[("h", f"{i}".encode()), ("h", None)])
            p.flush(10)
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "seeds",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe(["seeds"])
        got, deadline = 0, time.time() + 20
        while got < 150 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        c.commit(asynchronous=False)
        c.committed([TopicPartition("seeds", p) for p in range(3)], timeout=10)
        c.get_watermark_offsets(TopicPartition("seeds", 0), timeout=10)
        c.offsets_for_times([TopicPartition("seeds", 1, 0)], timeout=10)
        c.close()
        print(f"broker: consumed {got} records", file=sys.stderr)
    finally:
        broker.close()

    # SASL: the handshake and SCRAM exchanges of both mechanisms.
    users = [("scram256", "alice", "alice-secret"), ("scram512", "bob", "bob-secret")]
    broker = Broker(rig, recorder, users)
    try:
        for mech, user, password in [("SCRAM-SHA-256", "alice", "alice-secret"),
                                     ("SCRAM-SHA-512", "bob", "bob-secret")]:
            admin = AdminClient({"bootstrap.servers": broker.bootstrap,
                                 "security.protocol": "SASL_PLAINTEXT",
                                 "sasl.mechanism": mech, "sasl.username": user,
                                 "sasl.password": password})
            admin.list_topics(timeout=10)
    finally:
        broker.close()
    print(f"broker: responses captured (api key, version): {sorted(recorder.counts)}",
          file=sys.stderr)


# --- keys --------------------------------------------------------------------------------

def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True,
                          check=True).stdout


def keys():
    pw = f"pass:{PASSWORD}"
    with tempfile.TemporaryDirectory() as d:
        ec = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        rsa = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
        forms = [ec, rsa]
        for key in (ec, rsa):
            for v2 in (["-v2", "aes-256-cbc"], ["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
                       ["-v2", "des3"], ["-scrypt", "-scrypt_N", "1024"]):
                forms.append(openssl("pkcs8", "-topk8", "-passout", pw, *v2, stdin=key))
            for v1 in ("PBE-MD5-DES", "PBE-SHA1-3DES", "PBE-SHA1-RC4-128", "PBE-SHA1-RC2-40"):
                try:
                    forms.append(openssl("pkcs8", "-topk8", "-passout", pw, "-v1", v1,
                                         "-provider", "legacy", "-provider", "default",
                                         stdin=key))
                except subprocess.CalledProcessError:
                    print(f"keys: openssl can't write {v1}", file=sys.stderr)
        forms.append(openssl("ec", "-aes256", "-passout", pw, stdin=ec))
        forms.append(openssl("ec", stdin=ec))
        forms.append(openssl("rsa", "-traditional", "-des3", "-passout", pw, stdin=rsa))
        keyfile = Path(d) / "ec.pem"
        keyfile.write_bytes(ec)
        cert = openssl("req", "-x509", "-key", str(keyfile), "-subj", "/CN=seed", "-days", "1")
        forms.append(cert)
        forms.append(cert + ec)
        for form in forms:
            write_seed("keys", b"\x02" + form)
    print(f"keys: {len(forms)} forms", file=sys.stderr)


# --- AWS documentation samples -----------------------------------------------------------

def json_objects(text):
    """Every balanced {...} in `text` that parses as JSON."""
    starts = [i for i, ch in enumerate(text) if ch == "{"]
    seen_end = -1
    for s in starts:
        if s < seen_end:
            continue
        depth, in_str, esc = 0, False, False
        for i in range(s, len(text)):
            ch = text[i]
            if in_str:
                esc = not esc and ch == "\\"
                if ch == '"' and not esc:
                    in_str = False
                continue
            if ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        yield json.loads(text[s:i + 1])
                        seen_end = i + 1
                    except ValueError:
                        pass
                    break


def aws_samples(pages):
    n = 0
    for page in sorted(Path(pages).glob("*")):
        for obj in json_objects(page.read_text(errors="replace")):
            doc = json.dumps(obj, indent=2).encode()
            for target in ("mapping_config", "function_responses", "filter_patterns"):
                n += write_seed(target, doc)
            for f in obj.get("FilterCriteria", {}).get("Filters", []) if isinstance(
                    obj.get("FilterCriteria"), dict) else []:
                if isinstance(f, dict) and isinstance(f.get("Pattern"), str):
                    n += write_seed("filter_patterns", f["Pattern"].encode())
    print(f"aws samples: {n} seeds from {pages}", file=sys.stderr)


# --- the Runtime API ---------------------------------------------------------------------

def runtime_api():
    prefix = "/2018-06-01/runtime"
    ua = "User-Agent: aws-lambda-python/3.12-2.2.2\r\nHost: 127.0.0.1:9001\r\n"
    nxt = f"GET {prefix}/invocation/next HTTP/1.1\r\n{ua}\r\n"
    rid = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"

    def post(path, body, extra=""):
        return (f"POST {prefix}/{path} HTTP/1.1\r\n{ua}{extra}Content-Length: {len(body)}"
                f"\r\n\r\n{body}")

    err = '{"errorMessage":"boom","errorType":"Exception","stackTrace":[]}'
    etype = "Lambda-Runtime-Function-Error-Type: Unhandled\r\n"
    for stream in [
        nxt,
        nxt + post(f"invocation/{rid}/response", '{"batchItemFailures":[]}'),
        nxt + post(f"invocation/{rid}/error", err, etype),
        post("init/error", err, "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n"),
        nxt + (f"POST {prefix}/invocation/{rid}/response HTTP/1.1\r\n{ua}"
               "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ]:
        write_seed("runtime_api", b"\x01" + stream.encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", required=True)
    ap.add_argument("--aws-pages")
    args = ap.parse_args()
    targets = ["responses", "record_batches", "scram", "keys", "runtime_api"]
    if args.aws_pages:
        targets += ["mapping_config", "function_responses", "filter_patterns"]
    for t in targets:
        for f in (SEEDS / t).glob("*"):
            f.unlink()
    keys()
    runtime_api()
    if args.aws_pages:
        aws_samples(args.aws_pages)
    capture_broker(args.rig)


if __name__ == "__main__":
    main()
