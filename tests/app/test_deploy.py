"""The deployment as docs/deploy.md describes it: gunicorn.conf.py serves adgate (health,
readiness during an upgrade, metrics) and stops cleanly; the env files as the guide splits them."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import readiness
from app.db import MIGRATIONS, alembic_config, make_engine

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "deploy" / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).parent / "gunicorn"
_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")
# Bounds the wait for a server that never comes up, so that the test fails instead of hanging.
START_WITHIN_SECONDS = 60


@dataclass
class Served:
    """A gunicorn master running the deployment config, and everything it wrote."""

    process: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if not self.url and (match := _LISTENING.search(line)):
                self.url = match.group(1)
                self.listening.set()
        self.listening.set()  # the process ended (without listening, if url is empty)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app on a free loopback port."""
    command.upgrade(alembic_config(database_url), "head")
    env = {
        **os.environ,
        "ADGATE_DATABASE_URL": database_url,
        "ADGATE_INSTANCE_PATH": str(tmp_path / "instance"),
        "ADGATE_SECRET_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_IP_HMAC_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_TOTP_KEYS": json.dumps([Fernet.generate_key().decode()]),
        # As in the guide: live mode, and the Meta token only in the workers' env file.
        "ADGATE_META_MODE": "live",
        # Port 0: the kernel picks a free port, which gunicorn logs ("Listening at: ...").
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "2",
    }
    with gunicorn(env) as served:
        yield served


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[Served]:
    """gunicorn -c docs/deploy/gunicorn.conf.py wsgi:app with ``env``, stopped on leaving
    (SIGTERM, then SIGKILL after START_WITHIN_SECONDS)."""
    process = subprocess.Popen(
        [str(GUNICORN), "-c", str(CONFIG), "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process)
    reader = threading.Thread(target=served.read, daemon=True)
    reader.start()
    try:
        served.listening.wait(START_WITHIN_SECONDS)
        assert served.url, f"gunicorn did not start:\n{served.output}"
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=START_WITHIN_SECONDS)
        finally:
            if process.poll() is None:
                process.kill()
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_gunicorn_config_serves_adgate_and_stops_gracefully(served: Served) -> None:
    # Workers boot after the master listens: the first answer may take a moment.
    with requests.Session() as session:
        health = session.get(f"{served.url}/healthz?token=kept-out-of-the-log", timeout=30)
        ready = session.get(f"{served.url}/readyz", timeout=30)
        # From loopback without METRICS_TOKEN; whichever worker answers reads the database.
        metrics = session.get(f"{served.url}/metrics", timeout=30)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"
    request_id = ready.headers["X-Request-ID"]
    assert metrics.status_code == 200
    assert "adgate_queue_depth 0.0" in metrics.text

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=START_WITHIN_SECONDS) == 0
    log = served.output
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert '"GET /readyz HTTP/1.1" 200' in log
    assert f"rid={request_id}" in log
    # The access log never carries a query string.
    assert "kept-out-of-the-log" not in log
    assert "Shutting down: Master" in log


# --- readiness during an upgrade ------------------------------------------------------------


def _next_release(tmp_path: Path, *, additive: bool) -> Path:
    """The migrations of a next release: this one's and one more (declared additive or not)."""
    migrations = tmp_path / "next-release" / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = readiness.load_code().schema
    (migrations / "versions" / "9001_next.py").write_text(
        f"""\"\"\"A next release's migration.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None
additive = {additive}


def upgrade() -> None:
    op.create_table("next_release_thing", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("next_release_thing")
""",
        encoding="utf-8",
    )
    return migrations


def _upgrade_with(database_url: str, migrations: Path) -> None:
    config = alembic_config(database_url)
    config.set_main_option("script_location", str(migrations))
    command.upgrade(config, "head")


def test_readyz_names_the_code_it_serves(client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    code = readiness.load_code()
    assert answer.json == {
        "status": "ok",
        "schema": code.schema,
        "database": code.schema,
        "version": version("adgate"),
        "release": code.release,
    }


def test_release_id_comes_from_the_setting_else_the_git_commit(tmp_path: Path) -> None:
    assert readiness.load_code("2026-12-02.1").release == "2026-12-02.1"
    assert readiness.git_commit(tmp_path) is None  # no checkout: no commit, no error
    if (ROOT / ".git").exists():
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert readiness.git_commit(ROOT) == head[:12]


def test_an_old_server_stays_ready_when_the_next_release_adds_to_the_schema(
    app: Flask, client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    # The next release's code is on disk elsewhere (a folder per release) and migrates the
    # database: this process still serves the code it loaded, and the schema only grew.
    _upgrade_with(database_url, _next_release(tmp_path, additive=True))
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json is not None
    assert answer.json["schema"] == readiness.load_code().schema
    assert answer.json["database"] == "9001"


def test_an_old_server_is_not_ready_when_the_next_release_changes_the_schema(
    app: Flask,
    client: FlaskClient,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _upgrade_with(database_url, _next_release(tmp_path, additive=False))
    with caplog.at_level(logging.WARNING):
        answers = [client.get("/readyz") for _ in range(3)]
    assert {a.status_code for a in answers} == {503}
    assert answers[0].json is not None
    assert answers[0].json["reason"] == "schema-ahead"
    assert answers[0].json["current"] == "9001"
    assert answers[0].json["expected"] == readiness.load_code().schema
    # One line per failed probe, at WARNING, without a traceback.
    failures = [r for r in caplog.records if "readiness check failed" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in failures)


def test_a_server_of_newer_code_is_not_ready_before_the_migration(
    app: Flask, client: FlaskClient, database_url: str
) -> None:
    head = readiness.load_code().schema
    assert head is not None
    previous = ScriptDirectory(str(MIGRATIONS)).get_revision(head)
    assert previous is not None
    assert isinstance(previous.down_revision, str)
    command.downgrade(alembic_config(database_url), previous.down_revision)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["reason"] == "migrations"


def test_a_failed_database_check_logs_one_warning_line(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    app.extensions["adgate.db"].dispose()
    app.extensions["adgate.db"] = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with caplog.at_level(logging.WARNING):
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["reason"] == "database"
    assert answer.json["version"] == version("adgate")
    failures = [r for r in caplog.records if "readiness check failed" in r.getMessage()]
    assert len(failures) == 1
    assert "\n" not in failures[0].getMessage()
    assert failures[0].levelno == logging.WARNING
    assert failures[0].exc_info is None


def test_readiness_reads_the_migrations_once_at_start_up(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_disk(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the migrations were read again")

    monkeypatch.setattr(ScriptDirectory, "from_config", no_disk)
    monkeypatch.setattr("app.readiness.ScriptDirectory", no_disk)
    assert client.get("/readyz").status_code == 200


# --- live mode with the Meta settings in the workers' file only -----------------------------

ENV_EXAMPLE = ROOT / "docs" / "deploy" / "adgate.env.example"
FLASK = Path(sys.executable).parent / "flask"
META_ONLY_FOR_WORKERS = ("ADGATE_META_ACCESS_TOKEN", "ADGATE_META_APP_SECRET")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments, quotes)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value)
        values[key.strip()] = words[0] if words else ""
    return values


def test_live_mode_without_the_token_refuses_only_the_processes_that_call_meta(
    database_url: str, tmp_path: Path
) -> None:
    # adgate.env as the example has it (META_MODE=live), filled in, with the Meta token and
    # the app secret moved to worker.env, which this host does not have.
    shared = read_env_file(ENV_EXAMPLE)
    assert shared["ADGATE_META_MODE"] == "live"
    for key in META_ONLY_FOR_WORKERS:
        shared.pop(key)
    shared.update(
        ADGATE_DATABASE_URL=database_url,
        ADGATE_INSTANCE_PATH=str(tmp_path / "instance"),
        ADGATE_RATELIMIT_STORAGE_URI="memory://",
        ADGATE_SECRET_KEY="deploy-test-" + os.urandom(24).hex(),
        ADGATE_IP_HMAC_KEY="deploy-test-" + os.urandom(24).hex(),
        ADGATE_METRICS_TOKEN="deploy-test-" + os.urandom(24).hex(),
        ADGATE_TOTP_KEYS=json.dumps([Fernet.generate_key().decode()]),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADGATE_")} | shared

    def flask(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FLASK), "--app", "wsgi", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    upgraded = flask("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at" in upgraded.stdout
    created = flask(
        "users",
        "create",
        "admin@stadt.example",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password for the test\n",
    )
    assert created.returncode == 0, created.stderr
    worker = flask("worker", "--once")
    assert worker.returncode == 1
    assert "META_MODE=live needs ADGATE_META_ACCESS_TOKEN" in worker.stderr
    assert "worker.env" in worker.stderr
    assert "Traceback" not in worker.stderr


# --- the audit commands as the guide runs them ----------------------------------------------


def test_keygen_names_the_env_file_setting(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "keygen"])
    assert result.exit_code == 0, result.output
    assert "ADGATE_AUDIT_SIGNING_KEY_FILE=audit-signing.pem" in result.output
    assert "/etc/adgate/adgate.env" in result.output
    assert "instance/config.py" not in result.output


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this user cannot write in, like /opt/adgate for the service user."""
    if os.geteuid() == 0:
        # Permission bits do not stop root; sysfs refuses new files to everyone.
        return Path("/sys")
    folder = tmp_path / "install"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_checkpoints_out_is_taken_from_the_current_folder_and_refused_clearly(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    written = runner.invoke(args=["audit", "checkpoints", "--out", "cp.json"])
    assert written.exit_code == 0, written.output
    assert f"-> {tmp_path / 'cp.json'}" in written.output
    assert json.loads((tmp_path / "cp.json").read_text())["checkpoints"]

    read_only = _read_only_folder(tmp_path)
    monkeypatch.chdir(read_only)
    refused = runner.invoke(args=["audit", "checkpoints", "--out", "cp.json"])
    assert refused.exit_code == 1
    assert f"cannot write {read_only / 'cp.json'}" in refused.output
    assert "give --out a path where this user may write" in refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    assert not (read_only / "cp.json").exists()


# --- what differs per host -------------------------------------------------------------------

WEB_UNIT = ROOT / "docs" / "deploy" / "adgate-web.service"


def test_gunicorn_settings_come_from_a_file_of_each_host() -> None:
    # The shared env file is the same on every host, so it cannot say where one host listens.
    shared = read_env_file(ENV_EXAMPLE)
    assert not [key for key in shared if key.startswith(("GUNICORN_", "FORWARDED_"))]
    files = [
        line.removeprefix("EnvironmentFile=")
        for line in WEB_UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("EnvironmentFile=")
    ]
    # systemd: a later EnvironmentFile overrides an earlier one, and both override Environment=.
    assert files == ["/etc/adgate/adgate.env", "-/etc/adgate/host.env"]
    assert "host.env" in CONFIG.read_text(encoding="utf-8")


# --- behind nginx --------------------------------------------------------------------------

NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _directives(name: str) -> list[str]:
    """The values of every ``name`` directive in nginx.conf (comments left out)."""
    text = re.sub(r"#[^\n]*", "", NGINX_CONF.read_text(encoding="utf-8"))
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^\s*{name}\s+([^;]*);", text)]


def test_nginx_config_is_valid(tmp_path: Path) -> None:
    """``nginx -t`` on the file as shipped, with a throw-away certificate at its paths."""
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=adgate.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = NGINX_CONF.read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/adgate/privkey.pem", str(key))
    site = site.replace("/etc/ssl/adgate/fullchain.pem", str(cert))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "adgate.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ include {tmp_path}/adgate.conf; }}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_nginx_never_ejects_servers_for_their_answers() -> None:
    # Whatever proxy_next_upstream lists counts towards max_fails: an HTTP status there let
    # the 503s of every old server during an upgrade take them all out ("no live upstreams").
    for value in _directives("proxy_next_upstream"):
        assert not re.search(r"http_\d+", value), value
    assert _directives("proxy_next_upstream")[0] == "error timeout"
    # The probes' answers are passed on as they are, from the server that gave them.
    probes = NGINX_CONF.read_text(encoding="utf-8").split("location ~ ^/(healthz|readyz)$")[1]
    assert "proxy_next_upstream off;" in probes.split("}")[0]


def test_nginx_forwards_the_host_with_its_port() -> None:
    assert _directives("proxy_set_header X-Forwarded-Host") == ["$http_host"]
    assert _directives("error_log")[0].endswith(" error")


def test_forms_work_behind_a_proxy_on_another_port_than_443(
    database_url: str, tmp_path: Path
) -> None:
    from tests.conftest import PASSWORD, UserFactory, csrf_token, make_test_app

    app = make_test_app(database_url, tmp_path / "instance", PROXY_COUNT=1)
    command.upgrade(alembic_config(database_url), "head")
    UserFactory(app)("auditor@stadt.example", "auditor")
    site = "adgate.example.org:8443"

    def sign_in(forwarded_host: str) -> int:
        client = app.test_client()
        client.environ_base.update(
            HTTP_X_FORWARDED_HOST=forwarded_host,
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_X_FORWARDED_FOR="192.0.2.7",
            HTTP_REFERER=f"https://{site}/login",
        )
        token = csrf_token(client, "/login")
        answer = client.post(
            "/login",
            data={"email": "auditor@stadt.example", "password": PASSWORD, "csrf_token": token},
        )
        return answer.status_code

    try:
        # As nginx.conf forwards it now ($http_host): the browser's origin, port included.
        assert sign_in(site) == 302
        # As it was ($host, no port): the Referer's origin is another one, every form fails.
        assert sign_in("adgate.example.org") == 400
    finally:
        app.extensions["adgate.db"].dispose()


# --- scheduled checks of the audit log, as metrics ---------------------------------------------


def _textfile(path: Path) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8"))
        for sample in family.samples
    }


def test_audit_checks_write_their_result_for_the_textfile_collector(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    started = time.time()
    verify_prom = tmp_path / "adgate_audit_verify.prom"
    verified = runner.invoke(args=["audit", "verify", "--textfile", str(verify_prom)])
    assert verified.exit_code == 0, verified.output
    figures = _textfile(verify_prom)
    assert figures["adgate_audit_verify_last_run_success"] == 1
    assert started <= figures["adgate_audit_verify_last_run_timestamp_seconds"] <= time.time()
    assert "adgate_audit_verify_events" in figures

    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    kept = tmp_path / "kept.json"
    assert runner.invoke(args=["audit", "checkpoints", "--out", str(kept)]).exit_code == 0
    check_prom = tmp_path / "adgate_audit_checkpoints.prom"
    checked = runner.invoke(
        args=["audit", "check-checkpoints", str(kept), "--textfile", str(check_prom)]
    )
    assert checked.exit_code == 0, checked.output
    figures = _textfile(check_prom)
    assert figures["adgate_audit_checkpoints_check_last_run_success"] == 1
    assert figures["adgate_audit_checkpoints_check_checkpoints"] == 1

    # A file that is no checkpoint export: the check fails, and the metrics say so.
    kept.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    failed = runner.invoke(
        args=["audit", "check-checkpoints", str(kept), "--textfile", str(check_prom)]
    )
    assert failed.exit_code == 1
    assert _textfile(check_prom)["adgate_audit_checkpoints_check_last_run_success"] == 0
    assert not list(tmp_path.glob("*.prom.*"))  # written atomically, nothing left behind


AUDIT_CHECK = ROOT / "docs" / "deploy" / "adgate-audit-check.sh"


def test_the_scheduled_audit_check_writes_metrics_and_keeps_checkpoints(
    database_url: str, tmp_path: Path
) -> None:
    command.upgrade(alembic_config(database_url), "head")
    kept, textfiles = tmp_path / "kept", tmp_path / "node-exporter"
    textfiles.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADGATE_")} | {
        "ADGATE_CODE": str(ROOT),
        "ADGATE_FLASK": str(FLASK),
        "ADGATE_DATABASE_URL": database_url,
        "ADGATE_INSTANCE_PATH": str(tmp_path / "instance"),
        "ADGATE_SECRET_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_IP_HMAC_KEY": "deploy-test-" + os.urandom(24).hex(),
        "ADGATE_TOTP_KEYS": json.dumps([Fernet.generate_key().decode()]),
        "CHECKPOINTS_KEPT_DIR": str(kept),
        "TEXTFILE_DIR": str(textfiles),
    }
    for run in (1, 2):  # the first checks what it keeps; the second, what the first kept
        done = subprocess.run(
            ["/bin/sh", str(AUDIT_CHECK)], env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(list(kept.glob("checkpoints-*.json"))) == run
        verify = _textfile(textfiles / "adgate_audit_verify.prom")
        checked = _textfile(textfiles / "adgate_audit_checkpoints.prom")
        assert verify["adgate_audit_verify_last_run_success"] == 1
        assert checked["adgate_audit_checkpoints_check_last_run_success"] == 1
        time.sleep(1.1)  # the kept files are named by the second
    assert sorted(p.name for p in textfiles.iterdir()) == [
        "adgate_audit_checkpoints.prom",
        "adgate_audit_verify.prom",
    ]


# --- the alert rules ---------------------------------------------------------------------------

DEPLOY = ROOT / "docs" / "deploy"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    # promtool is in CI (.ci/run installs Debian's prometheus when missing): a missing one fails
    # here rather than skipping the check of the alerts.
    return subprocess.run(
        [PROMTOOL, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    checked = _promtool("check", "rules", "adgate-alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _promtool("test", "rules", "adgate-alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout + tested.stderr


def test_every_alert_has_a_case_where_it_fires() -> None:
    # promtool checks the cases; this checks that none is missing. (Read with patterns: the
    # files' shape is fixed by promtool, and no YAML library is a dependency of adgate.)
    rules_text = (DEPLOY / "adgate-alerts.yml").read_text(encoding="utf-8")
    alerts = set(re.findall(r"(?m)^\s+- alert: (\w+)$", rules_text))
    cases = (DEPLOY / "adgate-alerts.test.yml").read_text(encoding="utf-8")
    # A case that expects alerts lists them below "exp_alerts:"; one that expects none says [].
    firing = set(re.findall(r"(?m)^\s+alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:", cases))
    assert len(alerts) >= 16
    assert alerts - firing == set()
    # The metrics the backup script and the audit check write (docs/deploy.md, Metrics).
    for metric in (
        "adgate_backup_last_success_timestamp_seconds",
        "adgate_backup_last_run_success",
        "adgate_audit_verify_last_run_success",
        "adgate_audit_checkpoints_check_last_run_success",
    ):
        assert metric in rules_text


def test_prometheus_probes_each_app_server_directly() -> None:
    text = (DEPLOY / "prometheus.yml").read_text(encoding="utf-8")
    scraped = text.split("job_name: adgate\n")[1].split("job_name:")[0]
    probed = text.split("job_name: adgate-readyz\n")[1].split("job_name:")[0]
    servers = re.findall(r"(?m)^\s+- (\d+\.\d+\.\d+\.\d+:\d+)$", scraped)
    assert servers
    assert re.findall(r"(?m)^\s+- (http\S+)$", probed) == [f"http://{s}/readyz" for s in servers]
    checked = _promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
