"""The bundled plugins' secret options (the redis store's password, the mysql action's) are
masked like the core's token: never in ``info``, the log or public option values, also when
they come from the INI file. (The core's own token: core/tests/test_security.py.)"""

from __future__ import annotations

import json

from forsun.client import Client
from forsun.testing.options import make_options

SECRETS = {"driver_redis_password": "redis-pa55word", "action_mysql_passwd": "mysql-pa55word"}


def test_plugin_secrets_are_masked_in_public_values():
    public = make_options(**SECRETS).public()
    assert [public[dest] for dest in SECRETS] == ["******"] * len(SECRETS)
    assert not any(secret in json.dumps(public) for secret in SECRETS.values())


def test_plugin_secrets_from_the_ini_file_never_reach_info_or_the_log(tmp_path, forsunds):
    conf = tmp_path / "forsun.conf"
    conf.write_text(f"[store]\nredis_password = {SECRETS['driver_redis_password']}\n"
                    f"[action]\nmysql_passwd = {SECRETS['action_mysql_passwd']}\n",
                    encoding="utf-8")
    daemon = forsunds.start("--conf", str(conf), "--driver-mem-store-file", "",
                            "--no-action-shell-enabled")
    with Client("127.0.0.1", daemon.port) as client:
        info = client.info()
    daemon.stop()
    logs = daemon.log_text() + (tmp_path / "stderr.log").read_text()
    for secret in SECRETS.values():
        assert secret not in logs
        assert not any(secret in value for value in info.values())
