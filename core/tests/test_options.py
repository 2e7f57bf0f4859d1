import pytest

from forsun.options import ConfigError, Option, build_parser, resolve
from forsun.plugins import collect_options, get_plugin_manager

ORIGINAL_CONF = """\
# the original forsun.conf layout
port=7000
bind_address=0.0.0.0
http_bind=
log_level=DEBUG

[store]
driver=mem
status_expried = 60
redis_host=127.0.0.1

[action]
retry_delay_seconds=5
retry_max_count=7

[extension]
path=/opt/ext
extensions=a.B;c.D
"""


@pytest.fixture
def declared():
    return collect_options(get_plugin_manager(entrypoints=False))


def test_defaults_when_nothing_is_given(declared):
    options = resolve([], declared)
    assert options.port == 6458 and options.bind == "127.0.0.1"
    assert options.driver == "mem" and options.retry_max_count == 3


def test_original_conf_file_is_read(declared, tmp_path):
    conf = tmp_path / "forsun.conf"
    conf.write_text(ORIGINAL_CONF)
    options = resolve(["--conf", str(conf)], declared)
    assert options.port == 7000 and options.bind == "0.0.0.0"
    assert options.log_level == "DEBUG"
    assert options.status_expried == 60
    assert options.retry_delay_seconds == 5.0 and options.retry_max_count == 7
    assert options.extension_path == "/opt/ext" and options.extension == ["a.B", "c.D"]


def test_flags_win_over_the_file(declared, tmp_path):
    conf = tmp_path / "forsun.conf"
    conf.write_text(ORIGINAL_CONF)
    options = resolve(["--conf", str(conf), "--port", "7001", "--retry-max-count", "1"],
                      declared)
    assert options.port == 7001 and options.retry_max_count == 1
    assert options.bind == "0.0.0.0"


def test_bad_value_names_the_flag(declared):
    with pytest.raises(ConfigError, match="--port"):
        resolve(["--port", "abc"], declared)
    with pytest.raises(ConfigError, match="--retry-max-count"):
        resolve(["--conf", "/dev/null", "--retry-max-count", "x"], declared)


def test_unknown_plugin_flag_names_the_distribution(declared):
    with pytest.raises(ConfigError, match="forsun-store-nosuch"):
        resolve(["--driver-nosuch-host", "x"], declared)
    with pytest.raises(ConfigError, match="forsun-action-nosuch"):
        resolve(["--action-nosuch-user", "x"], declared)


def test_missing_conf_file_is_a_clear_error(declared, tmp_path):
    with pytest.raises(ConfigError, match="--conf"):
        resolve(["--conf", str(tmp_path / "absent.conf")], declared)


def test_help_groups_options_by_plugin(declared):
    text = build_parser(declared).format_help()
    assert "plugin core_options" in text and "plugin frontend_thrift" in text
    thrift_group = text.split("plugin frontend_thrift:")[1].split("plugin ")[0]
    assert "--port" in thrift_group and "--driver" not in thrift_group


def test_ini_keys_follow_sections():
    assert Option("driver-redis-host", section="store").ini_key == "redis_host"
    assert Option("action-http-max-clients", section="action").ini_key == "http_max_clients"
    assert Option("bind", ini="bind_address").ini_key == "bind_address"
    with pytest.raises(ValueError, match="--x"):
        Option("x", type=int).convert("nope")
    assert Option("x", type=list).convert("a;b; c") == ["a", "b", "c"]
    assert Option("x", type=bool).convert("off") is False


def test_choices_match_in_any_case_and_take_the_declared_spelling(declared, tmp_path):
    assert resolve(["--log-level", "debug"], declared).log_level == "DEBUG"
    conf = tmp_path / "forsun.conf"
    conf.write_text("log_level = Info\n")
    assert resolve(["--conf", str(conf)], declared).log_level == "INFO"
    with pytest.raises(ConfigError, match="--log-level: 'verbose' is not one of DEBUG, INFO"):
        resolve(["--log-level", "verbose"], declared)
