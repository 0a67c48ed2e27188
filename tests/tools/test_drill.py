"""The quick parts of `make drill`: the guide's nginx.conf and units, checked by their tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_or_skip
from tools.drill.run import DEPLOY, Drill, fill_env_example, nginx_conf, read_env_file, step_units


@pytest.fixture
def drill(tmp_path: Path) -> Drill:
    """A drill's names and paths under ``tmp_path`` (nothing started, nothing made)."""
    return Drill(tmp_path, "/usr/bin/python3", "postgresql://postgres@127.0.0.1:5432/postgres")


def test_the_guides_nginx_conf_passes_nginx_t_with_the_drills_ports(
    drill: Drill, tmp_path: Path
) -> None:
    require_or_skip(shutil.which("nginx") is not None, "nginx (Debian's nginx-light)")
    require_or_skip(shutil.which("openssl") is not None, "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    drill.logs.mkdir(parents=True)
    conf = nginx_conf(drill, cert, key)
    directives = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert "443" not in directives.replace(str(drill.ports["https"]), "")
    assert f"server 127.0.0.1:{drill.ports['web1']}" in conf
    assert f"server 127.0.0.1:{drill.ports['web2']}" in conf
    (tmp_path / "adgate.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 16; }\n"
        f"http {{ include /etc/nginx/mime.types; include {tmp_path}/adgate.conf; }}\n"
    )
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_the_units_pass_systemd_analyze_verify(drill: Drill) -> None:
    require_or_skip(shutil.which("systemd-analyze") is not None, "systemd-analyze")
    bin_dir = drill.current / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("gunicorn", "flask"):
        (bin_dir / name).symlink_to(Path(sys.executable).parent / name)
    drill.etc.mkdir(parents=True)
    assert "systemd-analyze verify" in step_units(drill)


def test_the_env_example_filled_in_reads_back_as_systemd_would(tmp_path: Path) -> None:
    example = (DEPLOY / "adgate.env.example").read_text()
    filled = fill_env_example(
        example,
        {"ADGATE_SECRET_KEY": "s" * 40, "ADGATE_TOTP_KEYS": '["k"]'},
        {"ADGATE_META_ACCESS_TOKEN"},
    )
    (tmp_path / "adgate.env").write_text(filled)
    env = read_env_file(tmp_path / "adgate.env")
    assert env["ADGATE_SECRET_KEY"] == "s" * 40
    assert env["ADGATE_TOTP_KEYS"] == '["k"]'
    assert env["ADGATE_MAIL_DEFAULT_SENDER"] == "adgate <adgate@example.org>"
    assert "ADGATE_META_ACCESS_TOKEN" not in env
