"""The load balancer of docker-compose.yml's `scale` profile, run for real without Docker.

Takes the nginx configuration the compose file gives its `lb` service (the `nginx-conf`
config), points its two upstreams at two instances of the built binary on loopback (on
run.sh's database, beside run.sh's own server), and checks what the README promises of
that topology:

- the configuration loads (`nginx -t`);
- a write through the balancer is read back through it, and both instances answer the
  same ETag for it;
- an event stream through the balancer is not buffered: a frame arrives while the
  stream is still open;
- a rolling restart loses no request: while reads run through the balancer, one
  instance gets SIGTERM and is started again, then the other; every read is a 200.

Environment: E2E_BASE_URL, E2E_TOKEN (from run.sh), E2E_BIN (the binary), E2E_OUT (a
folder for nginx's files and the second instance's log).
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

BASE = os.environ["E2E_BASE_URL"]
TOKEN = os.environ["E2E_TOKEN"]
BIN = os.environ["E2E_BIN"]
OUT = os.path.abspath(os.environ.get("E2E_OUT", "target/e2e/balancer"))
COMPOSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker-compose.yml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_nginx_conf():
    """The `content` of the top-level `configs: nginx-conf:` entry, as nginx will see it
    (compose turns `$$` into `$`)."""
    lines = open(COMPOSE, encoding="utf-8").read().splitlines()
    start = lines.index("  nginx-conf:")
    if lines[start + 1].strip() != "content: |":
        sys.exit("nginx-conf has no block content")
    body = []
    for line in lines[start + 2:]:
        if line and not line.startswith("      "):
            break
        body.append(line[6:])
    return "\n".join(body).replace("$$", "$") + "\n"


def request(method, url, body=None, headers=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_ready(base, process=None, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"the instance at {base} exited ({process.returncode})")
        try:
            if request("GET", f"{base}/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{base} never became ready")


class Instance:
    """One more `serve` process on the same database, at a port of its own."""

    def __init__(self, port, name):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(OUT, f"{name}.log"), "ab")
        self.process = None

    def start(self):
        env = dict(os.environ, BIND_ADDR=f"127.0.0.1:{self.port}")
        self.process = subprocess.Popen([BIN, "serve"], env=env, stdout=self.log, stderr=self.log)
        wait_ready(self.base, self.process)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=40)


def main():
    os.makedirs(OUT, exist_ok=True)
    first = Instance(free_port(), "instance-1")
    second = Instance(free_port(), "instance-2")
    lb_port = free_port()
    lb = f"http://127.0.0.1:{lb_port}"

    conf = compose_nginx_conf()
    for needle in ("server api-1:8080", "server api-2:8080", "listen 80;"):
        if needle not in conf:
            sys.exit(f"the compose nginx config no longer has `{needle}`: update this check")
    conf = (
        conf.replace("server api-1:8080", f"server 127.0.0.1:{first.port}")
        .replace("server api-2:8080", f"server 127.0.0.1:{second.port}")
        .replace("listen 80;", f"listen 127.0.0.1:{lb_port};")
    )
    with open(os.path.join(OUT, "default.conf"), "w", encoding="utf-8") as f:
        f.write(conf)
    main_conf = os.path.join(OUT, "nginx.conf")
    with open(main_conf, "w", encoding="utf-8") as f:
        f.write(
            f"""daemon off;
pid {OUT}/nginx.pid;
error_log {OUT}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {OUT}/nginx-access.log;
  client_body_temp_path {OUT}/body;
  proxy_temp_path {OUT}/proxy;
  fastcgi_temp_path {OUT}/fastcgi;
  uwsgi_temp_path {OUT}/uwsgi;
  scgi_temp_path {OUT}/scgi;
  include {OUT}/default.conf;
}}
"""
        )
    nginx = ["nginx", "-p", OUT, "-c", main_conf]
    test = subprocess.run(nginx + ["-t"], capture_output=True, text=True)
    if test.returncode != 0:
        sys.exit(f"nginx -t refused the compose config:\n{test.stderr}")
    print("nginx -t: the compose config loads")

    first.start()
    second.start()
    balancer = subprocess.Popen(nginx, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(lb, balancer)
        check_read_write(lb, first, second)
        check_stream(lb)
        check_rolling_restart(lb, first, second)
    finally:
        balancer.send_signal(signal.SIGQUIT)
        try:
            balancer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            balancer.kill()
        first.stop()
        second.stop()
    print("balancer: all checks passed")


def check_read_write(lb, first, second):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    event = {
        "title": "Balanced write",
        "occurred_on": "2024-03-27",
        "category": "industry",
        "significance": "major",
        "summary": "Written through the load balancer.",
        "tags": ["balanced"],
    }
    status, headers, body = request("POST", f"{lb}/v1/events", event, auth)
    assert status == 201, (status, body)
    slug = json.loads(body)["slug"]
    etags = set()
    for base in (lb, first.base, second.base):
        status, headers, _ = request("GET", f"{base}/v1/events/{slug}")
        assert status == 200, (base, status)
        etags.add(headers["ETag"])
    assert len(etags) == 1, etags
    print("read and write through the balancer: one record, one ETag on both instances")


def check_stream(lb):
    """A frame written after the stream opened arrives through nginx while it is open."""
    host, port = lb.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    conn.request("GET", "/v1/events/stream?tag=streamed-through-lb", headers={"Accept": "text/event-stream"})
    response = conn.getresponse()
    assert response.status == 200, response.status
    time.sleep(0.5)
    event = {
        "title": "Streamed through the balancer",
        "occurred_on": "2024-03-28",
        "category": "industry",
        "significance": "notable",
        "summary": "It reaches an open stream through nginx at once.",
        "tags": ["streamed-through-lb"],
    }
    status, _, body = request("POST", f"{lb}/v1/events", event, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 201, (status, body)
    deadline = time.time() + 10
    seen = b""
    while time.time() < deadline and b"Streamed through the balancer" not in seen:
        chunk = response.fp.read1(65536) if hasattr(response.fp, "read1") else response.read(1)
        if not chunk:
            break
        seen += chunk
    conn.close()
    assert b"Streamed through the balancer" in seen, seen[-500:]
    print("stream through the balancer: the frame arrived while the stream was open")


def check_rolling_restart(lb, first, second):
    """Reads run through the balancer while each instance in turn is stopped with
    SIGTERM and started again: none of them may fail."""
    stop = threading.Event()
    results = []

    def reader():
        while not stop.is_set():
            try:
                status, _, _ = request("GET", f"{lb}/v1/events?limit=5", timeout=10)
            except OSError as error:
                status = f"error: {error}"
            results.append(status)
            time.sleep(0.01)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        for instance in (second, first):
            instance.stop()
            time.sleep(1)
            instance.start()
            time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    failures = [r for r in results if r != 200]
    assert len(results) > 100, len(results)
    assert not failures, f"{len(failures)} of {len(results)} reads failed: {failures[:10]}"
    print(f"rolling restart: {len(results)} reads through the balancer, every one a 200")


if __name__ == "__main__":
    main()
