"""pip, as `make` runs it on the lock files, refuses a file whose hash is not the locked one.

Offline: a tiny wheel built here, found with --find-links, no index.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

NAME, VERSION = "adgate_lock_probe", "1.0"
MODULE = "PROBE = 'the locked file'\n"


def build_wheel(folder: Path, module: str) -> Path:
    """A pure-Python wheel of one module, written by hand (the format is a zip with a RECORD)."""
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}.py": module,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip_install(
    tmp_path: Path, requirements: str, wheels: Path
) -> subprocess.CompletedProcess[str]:
    """`make`'s install command, offline: no index, no configuration, the wheels folder only."""
    lock = tmp_path / "requirements.txt"
    lock.write_text(requirements)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--require-hashes", "--no-deps"),
            *("--no-index", "--find-links", str(wheels), "--no-cache-dir"),
            *("--disable-pip-version-check", "--target", str(tmp_path / "site")),
            *("-r", str(lock)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    return folder


def test_the_locked_hash_installs(tmp_path: Path, wheels: Path) -> None:
    """The control: the file whose hash the lock names installs."""
    wheel = build_wheel(wheels, MODULE)
    done = pip_install(tmp_path, f"{NAME}=={VERSION} --hash=sha256:{sha256(wheel)}\n", wheels)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / f"{NAME}.py").read_text() == MODULE


def test_another_file_under_the_locked_name_is_refused(tmp_path: Path, wheels: Path) -> None:
    """Same name and version, other content (a replaced release, a tampered mirror)."""
    locked = sha256(build_wheel(wheels, MODULE))
    build_wheel(wheels, "PROBE = 'something else'\n")  # overwrites the locked file
    done = pip_install(tmp_path, f"{NAME}=={VERSION} --hash=sha256:{locked}\n", wheels)
    assert done.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in done.stderr
    assert not (tmp_path / "site" / f"{NAME}.py").exists()


def test_a_lock_with_an_altered_hash_is_refused(tmp_path: Path, wheels: Path) -> None:
    """A lock line whose hash was changed by one digit no longer admits the file."""
    real = sha256(build_wheel(wheels, MODULE))
    altered = real[:-1] + ("0" if real[-1] != "0" else "1")
    done = pip_install(tmp_path, f"{NAME}=={VERSION} --hash=sha256:{altered}\n", wheels)
    assert done.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in done.stderr
    assert f"Expected sha256 {altered}" in done.stderr
    assert f"Got        {real}" in done.stderr


def test_a_line_without_a_hash_is_refused(tmp_path: Path, wheels: Path) -> None:
    """In hash-checking mode an unhashed requirement stops the whole install."""
    build_wheel(wheels, MODULE)
    done = pip_install(tmp_path, f"{NAME}=={VERSION}\n", wheels)
    assert done.returncode != 0
    assert "Hashes are required in --require-hashes mode" in done.stderr
