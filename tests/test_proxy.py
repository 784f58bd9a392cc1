"""Production's reverse proxy (deploy/nginx.conf) in front of gunicorn's two sync workers:
slow clients tie up nginx connections, never the workers."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_CLIENTS = 50

pytestmark = pytest.mark.django_db


def _wait_for(url: str, *, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def gunicorn() -> str:
    """gunicorn with production settings and 2 sync workers, as docker-compose runs it."""
    port = free_port()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "proxy-test-" + "k3y-" * 12,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "TRUSTED_PROXIES": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application",
         "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health/")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def nginx(gunicorn: str, tmp_path: Path) -> str:
    """deploy/nginx.conf with this test's upstream, port and scratch folders."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (make test installs it)")
    port = free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("server web:8000;", f"server {gunicorn};")
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    conf = conf.replace(
        "pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;"
    )
    temp = "\n".join(
        f"    {name}_temp_path {tmp_path}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = conf.replace("http {\n", f"http {{\n{temp}\n", 1)
    if os.geteuid() == 0:
        conf = "user root;\n" + conf
    (tmp_path / "nginx.conf").write_text(conf)
    proxy = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health/")
        yield f"127.0.0.1:{port}"
    finally:
        proxy.terminate()
        proxy.wait(10)


def _slow_sockets(address: str, count: int) -> list[socket.socket]:
    """Clients that start a request and then send nothing more (one header line so far)."""
    host, port = address.split(":")
    sockets = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /api/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sockets.append(sock)
    return sockets


def _health_seconds(address: str) -> float | None:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://{address}/api/health/", timeout=1) as answer:
            assert answer.status == 200
    except OSError:
        return None
    return time.perf_counter() - started


def test_fifty_slow_clients_do_not_stop_health_answering_through_the_proxy(gunicorn, nginx):
    direct = _slow_sockets(gunicorn, 2)
    try:
        assert _health_seconds(gunicorn) is None  # without the proxy two sockets pin both
    finally:
        for sock in direct:
            sock.close()
    slow = _slow_sockets(nginx, SLOW_CLIENTS)
    try:
        for _ in range(5):
            for sock in slow:
                sock.sendall(b"X-Slow: 1\r\n")  # one more header line, never the end
            seconds = _health_seconds(nginx)
            assert seconds is not None
            assert seconds < 1
            time.sleep(0.2)
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.django_db(transaction=True)  # gunicorn's lockout rows must not outlive the test
def test_behind_the_proxy_a_forged_forwarded_for_cannot_spread_logins_over_addresses(nginx):
    codes = []
    for n in range(12):  # a new account name each time: only the address can lock them out
        request = urllib.request.Request(
            f"http://{nginx}/api/auth/token/",
            data=json.dumps({"username": f"nobody{n}", "password": "wrong"}).encode(),
            headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n}"},
        )
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as refused:
            codes.append(refused.code)
    assert codes[:9] == [401] * 9
    assert codes[-1] == 429
