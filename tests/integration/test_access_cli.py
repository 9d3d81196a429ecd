"""`iotstream tenants|tokens|users` as separate processes, against the catalog of a running platform."""

import subprocess
import sys
import time
from pathlib import Path

import httpx

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform

CLI = [sys.executable, "-m", "iotstream"]


def iotstream(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CLI, *args, "--data-dir", str(data_dir)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done


def test_tokens_made_and_revoked_by_the_cli_work_at_once_on_the_running_platform(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, api={"port": 0}, auth={"enabled": True})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        assert iotstream(tmp_path, "tenants", "create", "acme").returncode == 0
        made = iotstream(
            tmp_path, "tokens", "create", "--tenant", "acme", "--role", "writer", "--expires", "30d"
        )
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1]
        assert token.startswith("iot_")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=platform.api.url, headers=headers) as device:
            sent = device.post("/api/v1/readings", json={"datastream": "meter", "value": 1})
            assert sent.json() == {"accepted": 1, "rejected": []}
            token_id = token.split("_")[1]
            listed = iotstream(tmp_path, "tokens", "list", "--tenant", "acme")
            assert token_id in listed.stdout
            assert token not in listed.stdout
            assert iotstream(tmp_path, "tokens", "revoke", token_id).returncode == 0
            revoked_at = time.monotonic()  # the CLI has exited: its revocation has committed
            while (
                device.post("/api/v1/readings", json={"datastream": "meter", "value": 2}).status_code != 401
            ):
                assert time.monotonic() - revoked_at < 0.2, "still accepted 200 ms after its revocation"
        user = iotstream(
            tmp_path,
            "users",
            "create",
            "ann",
            "--tenant",
            "acme",
            "--role",
            "reader",
            "--password-stdin",
            stdin="correct horse\n",
        )
        assert user.returncode == 0, user.stderr
        login = httpx.post(f"{platform.api.url}/login", json={"username": "ann", "password": "correct horse"})
        assert login.json()["tenant"] == "acme"
        trail = iotstream(tmp_path, "audit", "--tenant", "acme")
        assert "token.revoke" in trail.stdout
        assert "cli " in trail.stdout


def test_cli_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    missing = iotstream(tmp_path, "tokens", "create", "--tenant", "nope", "--role", "reader")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: no tenant 'nope'"
    bad_role = iotstream(tmp_path, "tokens", "create", "--tenant", "default", "--role", "root")
    assert bad_role.returncode == 2
    assert "'root' is not one of" in bad_role.stderr
    bad_expiry = iotstream(
        tmp_path, "tokens", "create", "--tenant", "default", "--role", "reader", "--expires", "soon"
    )
    assert bad_expiry.returncode == 2
    assert "--expires" in bad_expiry.stderr
