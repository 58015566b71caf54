"""Configuration: validated at start, errors that name the file and the key, env overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hall_common.config import EdgeConfig, KioskConfig, load
from hall_common.errors import ConfigError

GOOD = """
hall_id = "h1"
hall_name = "测试大厅"
node_id = "kiosk-01"
data_dir = "data"
[broker]
port = 1883
password_file = "secret"
[http]
port = 8080
[settings.info]
service_phone = "028-1"
complaint_phone = "028-2"
"""


def write(tmp_path: Path, text: str, name: str = "kiosk-01.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_paths_relative_to_it(tmp_path):
    cfg = load(KioskConfig, write(tmp_path, GOOD))
    assert cfg.hall_name == "测试大厅"
    assert cfg.data_dir == tmp_path.resolve() / "data"
    assert cfg.broker.password_file == tmp_path.resolve() / "secret"


def test_bad_value_names_file_and_key(tmp_path):
    path = write(tmp_path, GOOD.replace("port = 1883", 'port = "lots"'))
    with pytest.raises(ConfigError) as err:
        load(KioskConfig, path)
    assert str(path) in str(err.value)
    assert "broker.port" in str(err.value)


def test_unknown_key_is_an_error_not_ignored(tmp_path):
    with pytest.raises(ConfigError, match=r"broker\.prot"):
        load(KioskConfig, write(tmp_path, GOOD.replace("port = 1883", "prot = 1883")))


def test_missing_key_and_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="hall_id"):
        load(KioskConfig, write(tmp_path, GOOD.replace('hall_id = "h1"', "")))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(KioskConfig, write(tmp_path, "hall_id = "))
    with pytest.raises(ConfigError, match="no such"):
        load(KioskConfig, tmp_path / "absent.toml")


def test_reserved_and_invalid_ids_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="reserved"):
        load(KioskConfig, write(tmp_path, GOOD.replace('node_id = "kiosk-01"', 'node_id = "queue"')))
    with pytest.raises(ConfigError, match="node_id"):
        load(KioskConfig, write(tmp_path, GOOD.replace('node_id = "kiosk-01"', 'node_id = "Kiosk 1"')))


def test_edge_must_be_the_edge_user(tmp_path):
    with pytest.raises(ConfigError, match="must be 'edge'"):
        load(EdgeConfig, write(tmp_path, GOOD, "edge.toml"))


def test_environment_overrides_a_nested_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_BROKER__PORT", "1999")
    assert load(KioskConfig, write(tmp_path, GOOD)).broker.port == 1999


def test_environment_overrides_keep_the_rest_of_a_table_and_reach_constructors(tmp_path, monkeypatch):
    monkeypatch.setenv("kiosk_broker__keepalive", "45")  # any case, as before
    cfg = load(KioskConfig, write(tmp_path, GOOD.replace("port = 1883", 'port = 1883\nhost = "10.0.0.2"')))
    assert (cfg.broker.host, cfg.broker.port, cfg.broker.keepalive) == ("10.0.0.2", 1883, 45)
    monkeypatch.setenv("KIOSK_DISK_MIN_FREE_MB", "7")  # a schema built in code sees them too
    assert KioskConfig(**cfg.model_dump(exclude={"disk_min_free_mb"})).disk_min_free_mb == 7


def test_pydantic_settings_is_loaded_only_for_an_override(tmp_path):
    path = write(tmp_path, GOOD)
    code = ("import sys; from hall_common.config import KioskConfig, load; load(KioskConfig, sys.argv[1]); "
            "print('pydantic_settings' in sys.modules)")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PATH": "/usr/bin:/bin"}
    plain = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60, env=env)
    overridden = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                                env={**env, "KIOSK_BROKER__PORT": "1999"})
    assert (plain.stdout.strip(), overridden.stdout.strip()) == ("False", "True"), plain.stderr + overridden.stderr


def test_bad_environment_override_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_BROKER__PORT", "abc")
    with pytest.raises(ConfigError, match=r"KIOSK_BROKER__PORT \(environment\): broker.port"):
        load(KioskConfig, write(tmp_path, GOOD))


def test_a_part_with_a_bad_config_exits_with_one_line(tmp_path):
    path = write(tmp_path, GOOD.replace("port = 8080", "port = 0"))
    result = subprocess.run([sys.executable, "-m", "kiosk", "--config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "http.port" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_central_database_path_is_relative_to_the_file(tmp_path, monkeypatch):
    from hall_common.config import CentralConfig

    monkeypatch.chdir("/")
    path = write(tmp_path, 'data_dir = "c"\ndatabase_url = "sqlite:///c/central.db"\ndemo = true\n[http]\nport = 8001\n', "central.toml")
    assert load(CentralConfig, path).sqlite_path() == tmp_path.resolve() / "c" / "central.db"


def test_opening_hours_are_checked(tmp_path):
    bad = GOOD + '[[settings.hours.periods]]\ndays = ["mon"]\nopen = "18:00"\nclose = "08:00"\n'
    with pytest.raises(ConfigError, match="settings.hours.periods.0: Value error, open 18:00 must be before close"):
        load(KioskConfig, write(tmp_path, bad))
    with pytest.raises(ConfigError, match="unknown time zone"):
        load(KioskConfig, write(tmp_path, GOOD + '[settings.hours]\ntimezone = "Mars/Olympus"\n'))


def test_touch_targets_follow_the_panel():
    from hall_common.config import PanelConfig

    assert PanelConfig(diagonal_in=15.6, width_px=1920, height_px=1080).touch_px(20) == 111
    assert PanelConfig(diagonal_in=32, width_px=1280, height_px=720).touch_px(15) == 60  # never under 60


def test_complaint_places_must_be_short_and_unique():
    from pydantic import ValidationError

    from hall_common.config import PlacesConfig

    with pytest.raises(ValidationError, match="unique"):
        PlacesConfig(buildings=["1栋", "1栋"])
    with pytest.raises(ValidationError, match="1 to 16"):
        PlacesConfig(public_areas=["这是一个非常非常非常非常长的公共区域名称"])
    assert PlacesConfig().units == ["1单元", "2单元", "3单元"]


def test_the_centres_first_account_must_be_an_admin(tmp_path):
    """A first account with a hall console role would be a centre nobody can administer."""
    from hall_common.config import CentralConfig

    (tmp_path / "pw").write_text("a-long-password\n")
    text = ('data_dir = "c"\ndatabase_url = "sqlite:///c/central.db"\ndemo = true\n[http]\nport = 8001\n'
            '[bootstrap_user]\nusername = "first"\npassword_file = "pw"\nrole = "viewer"\n')
    with pytest.raises(ConfigError, match='bootstrap_user: Value error, role "viewer" is a hall console role'):
        load(CentralConfig, write(tmp_path, text, "central.toml"))
    assert load(CentralConfig, write(tmp_path, text.replace('"viewer"', '"admin"'), "central.toml")).bootstrap_user
