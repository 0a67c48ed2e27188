"""gunicorn settings for one adgate app server behind a reverse proxy (see docs/deploy.md).

    gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app

Read from the environment (none of them is an adgate setting, hence no ADGATE_ prefix), which
adgate-web.service fills from /etc/adgate/host.env, the file of what differs per host:

    GUNICORN_BIND              where to listen             127.0.0.1:8000
    GUNICORN_WORKERS           processes                   2 x CPU cores + 1
    GUNICORN_THREADS           threads per process         4
    GUNICORN_GRACEFUL_TIMEOUT  seconds to finish requests  30
    FORWARDED_ALLOW_IPS        the proxy's addresses       127.0.0.1,::1

Each worker process opens its own connections to PostgreSQL (SQLAlchemy's pool: up to 5
kept, 10 more under load), so an app server needs up to WORKERS x THREADS connections at
once; size PostgreSQL's max_connections for every app server plus the submission workers.
"""

from __future__ import annotations

import multiprocessing
import os

# Bind to loopback (the proxy on the same host) or to a private address that only the proxy
# and Prometheus can reach: adgate trusts X-Forwarded-For from whoever connects
# (ADGATE_PROXY_COUNT), so nobody else may connect directly.
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]

# Processes for the CPU (scrypt password checks take ~0.1 s each), threads for the waits on
# PostgreSQL. Threads also make a worker's heartbeat independent of its requests: with the
# gthread worker the master kills only a stuck process, never one that is streaming a long
# audit export or verifying the chain (GET /api/v1/audit/verify) for minutes.
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"

# Seconds without a heartbeat before the master replaces a worker (see above: not a request
# time limit with gthread).
timeout = 30
# On SIGTERM or SIGHUP (systemctl stop / reload) a worker stops accepting and has this long to
# finish its requests. systemd's TimeoutStopSec must be longer (adgate-web.service: 60 s).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
# Longer than the proxy's idle keep-alive to its upstream (nginx.conf: keepalive_timeout 60s),
# so that gunicorn never closes a connection nginx is about to reuse.
keepalive = 75

# Each worker builds its own app, engine and connection pool after the fork: a pool must
# never be shared across processes. It also lets `systemctl reload` (SIGHUP) load new code.
preload_app = False

# The heartbeat file lives in memory: on a disk-backed /tmp a slow fsync can stall a worker
# until the master kills it.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (gunicorn's documented choice, not a temp file)

# Only the proxy may tell gunicorn the request came over HTTPS (X-Forwarded-Proto). adgate
# itself reads X-Forwarded-For/-Proto/-Host through ProxyFix (ADGATE_PROXY_COUNT); both must
# trust the same proxy.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# max_requests is not set: adgate leaks no memory that a restart would reclaim, and each
# restart would cut off a running chain verification started from the pages (it runs in a
# thread of the worker) and make the new process's first /metrics scrape read the counted
# kinds of the whole audit log again.

# Logs go to stdout/stderr, i.e. to the journal under systemd.
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Path without the query string (%(U)s, never %(r)s or %(q)s): a query string may carry a
# filter with an e-mail address, and must never carry a token into a log. No client address
# either: behind the proxy it would be the proxy's; the proxy logs the client and the same
# X-Request-ID, which adgate also writes into its audit events.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'

proc_name = "adgate"
# No control socket (gunicorn >= 25 opens one in $XDG_RUNTIME_DIR or ~/.gunicorn by default):
# systemd starts, reloads and stops the server, and two servers of one user on one host would
# claim the same socket path.
control_socket_disable = True
