"""No secret in the repository (reliability campaign, security): no private key, no API
key, no password but an obvious placeholder in any file git tracks, and the files that
hold a hall's real secrets are ignored. Keys, tokens and passwords are made at set-up
(`hall up`, `hall provision`) into the data folder, mode 600, never into the tree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = {"change-me", "changeme", "example", "placeholder"}
PATTERNS = {
    "a private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
}
# key = "value" in configuration files: the value must be a placeholder, never a real one.
ASSIGNED = re.compile(r"""(?i)\b(password|passwd|secret|token|api_?key|apiv3_key)\w*\s*[:=]\s*["']([^"']+)["']""")
CONFIG_SUFFIXES = {".toml", ".yaml", ".yml", ".ini", ".conf", ".in", ".env", ".json", ".cfg", ".service"}


def tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_private_key_or_api_key_is_tracked():
    found = []
    for path in tracked():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # pictures, fonts
        for what, pattern in PATTERNS.items():
            if pattern.search(text):
                found.append(f"{path.relative_to(ROOT)}: {what}")
    assert found == [], found


def test_configuration_files_hold_only_placeholders():
    found = []
    for path in tracked():
        if path.suffix not in CONFIG_SUFFIXES or path.parts[len(ROOT.parts)] == "tests":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for m in ASSIGNED.finditer(line):
                if m.group(2).lower() not in PLACEHOLDERS and not m.group(2).startswith(("${", "!secret")):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {m.group(0)}")
    assert found == [], found


def test_files_that_hold_real_secrets_are_ignored():
    for name in (".venv/x", "var/hall/secrets/broker/edge", "firmware_configs/esphome/secrets.yaml"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT).returncode == 0, name
