#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1, starting the local ones if they do not,
# and that nginx (the tests run production's reverse proxy) and Chromium (the browser test of
# the demo page, driven by Playwright) are installed.
set -euo pipefail

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx (Debian package) for the reverse-proxy tests"
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -q nginx-light >/dev/null \
    || { $apt_get update -q >/dev/null && \
         DEBIAN_FRONTEND=noninteractive $apt_get install -y -q nginx-light >/dev/null; } \
    || echo "could not install nginx: the proxy tests will be skipped" >&2
fi

if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (Debian package) for the browser test"
  if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -q chromium >/dev/null \
    || { $apt_get update -q >/dev/null && \
         DEBIAN_FRONTEND=noninteractive $apt_get install -y -q chromium >/dev/null; } \
    || echo "could not install chromium: the browser test will be skipped" >&2
fi

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  cluster="$(pg_lsclusters -h | awk '{print $1}' | head -1)"
  echo "starting PostgreSQL $cluster"
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
fi
if ! redis_up; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 30); do
  if pg_up && redis_up; then exit 0; fi
  sleep 1
done
echo "PostgreSQL or Redis did not come up on 127.0.0.1" >&2
exit 1
