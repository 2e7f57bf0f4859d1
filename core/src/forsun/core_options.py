"""The core's own options, declared through the same hook as every plugin's."""

from __future__ import annotations

from collections.abc import Callable

from .hookspecs import hookimpl
from .options import Option


@hookimpl
def register_options(register: Callable[[Option], None]) -> None:
    for option in CORE_OPTIONS:
        register(option)


CORE_OPTIONS = (
    Option("log", default="", ini="log_file", metavar="FILE",
           help="log file; - or empty logs to stderr (with --demon, empty logs to "
                "/var/log/forsun.log, as the original forsun did)"),
    Option("log-rotate", default="", ini="log_rotate", metavar="DAY|SIZE",
           help="rotate the log file at midnight (DAY) or when it reaches a size (a number "
                "with B, K, M or G: 100M); empty: never"),
    Option("log-backup-count", type=int, default=64, ini="log_backup_count", metavar="N",
           help="rotated log files kept with --log-rotate"),
    Option("log-level", default="INFO", ini="log_level",
           choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
           help="the least severe level logged (in any case: info, Info)"),
    Option("log-format", default="%(asctime)s %(process)d %(levelname)s %(name)s %(message)s",
           ini="log_format", metavar="FORMAT|json",
           help="a Python logging format string, or json: one JSON object per line (time, "
                "level, logger, message, pid, exc_info)"),
    Option("log-repeat-window", type=float, default=10.0, ini="log_repeat_window",
           metavar="SECONDS",
           help="log a line repeated word for word once per this many seconds, then how "
                "many more came (0: log every line)"),
    Option("demon", type=bool, default=False,
           help="run in the background (daemon) with a pid file; the original's "
                "--demon VALUE and --nodemon [VALUE] are read as it read them"),
    Option("pid-file", default="/tmp/forsund.pid", ini="pid_file", metavar="FILE",
           help="pid file written by --demon"),
    Option("server-mode", default="TIMER", ini="server_mode", metavar="MODE",
           help="TIMER: serve the API and fire plans; any other mode (the original's "
                "SERVER, PROXY, ...): serve the API and fire nothing, e.g. beside firing "
                "nodes sharing the redis store"),
    Option("timezone", default="UTC",
           help="IANA time zone in which fixed-time plans are matched"),
    Option("token", default="", ini="token", secret=True, metavar="TOKEN",
           help="shared secret every Thrift and HTTP request must carry (HTTP: "
                "Authorization: Bearer TOKEN; Thrift: see docs/operations.md); "
                "empty: no check"),
    Option("max-connections", type=int, default=0, ini="max_connections", metavar="N",
           help="connections each front end (Thrift, HTTP) keeps open at once; 0: a quarter "
                "of the descriptor limit (ulimit -n), leaving half of it to actions and "
                "the store"),
    Option("idle-timeout", type=float, default=600.0, ini="idle_timeout", metavar="SECONDS",
           help="close a connection whose client has sent nothing this long while a "
                "request was awaited (Thrift: any byte; HTTP: a request's headers)"),
    Option("driver", default="mem", section="store", ini="driver", metavar="NAME",
           help="store driver (see `forsund plugins`)"),
    Option("status-expried", type=int, default=0, section="store", ini="status_expried",
           metavar="SECONDS",
           help="keep a finished plan readable this many seconds (0: remove at once)"),
    Option("node-id", default="", section="store", ini="node_id",
           help="this node's name when several forsund share a store "
                "(default: the store's own, e.g. --driver-redis-server-id)"),
    Option("failures-max", type=int, default=10_000, section="store", ini="failures_max",
           metavar="N",
           help="occurrences that failed every attempt are kept in the store's failures "
                "list (forsun failures); beyond N the oldest are dropped and counted"),
    Option("history-size", type=int, default=10_000, ini="history_size", metavar="N",
           help="firing outcomes this node remembers (forsun history KEY); 0: none"),
    Option("metrics", type=bool, default=True, ini="metrics",
           help="count Prometheus metrics, served at GET /metrics of --http "
                "(--no-metrics: off, and /metrics answers only the process figures)"),
    Option("retry-delay-seconds", type=float, default=3.0, section="action",
           ini="retry_delay_seconds",
           help="the unit of the delays before retries of a failed action (see "
                "--retry-delay-rate)"),
    Option("retry-delay-rate", type=float, default=1.0, section="action",
           ini="retry_delay_rate",
           help="retry n comes retry_delay_seconds * (1 + this * n) seconds after a failure "
                "(as the original: 6, 9, 12 s by default)"),
    Option("retry-max-count", type=int, default=3, section="action", ini="retry_max_count",
           help="retries after the first attempt before an occurrence is given up"),
    Option("action-workers", type=int, default=4096, section="action", ini="workers",
           help="actions executing at once; further due occurrences wait in a queue"),
    Option("action-threads", type=int, default=32, section="action", ini="threads",
           help="threads for blocking actions"),
    Option("action-timeout", type=float, default=120.0, section="action", ini="timeout",
           metavar="SECONDS",
           help="an action running longer is cancelled and retried (checked every tenth of "
                "it, at least every second)"),
    Option("lease-margin", type=float, default=30.0, section="store", ini="lease_margin",
           metavar="SECONDS",
           help="a claimed occurrence stays leased to its node for --action-timeout plus "
                "this; after that another node may fire it again (a store that tracks its "
                "nodes' heartbeats hands a dead node's occurrences over sooner)"),
    Option("max-catchup-seconds", type=int, default=86400, ini="max_catchup_seconds",
           metavar="SECONDS",
           help="after downtime, replay at most this many missed seconds one by one; "
                "older due plans still fire once"),
    Option("claim-ahead", type=float, default=0.1, ini="claim_ahead", metavar="SECONDS",
           help="claim and prepare what is due at the next second this long before it, "
                "and fire it once the second has come (0..0.9; 0: claim at the boundary)"),
    Option("gc-interval", type=float, default=60.0, ini="gc_interval", metavar="SECONDS",
           help="run Python's full garbage collection this often, in the middle of a second, "
                "instead of whenever it triggers (which can stall a busy second by tens of "
                "milliseconds with millions of plans); 0 leaves it automatic"),
    Option("extension-path", default="", section="extension", ini="path", metavar="DIR",
           help="directory added to sys.path for --extension"),
    Option("extension", type=list, default=[], section="extension", ini="extensions",
           metavar="MODULE.CLASS",
           help="legacy forsun extension class to load (repeatable)"),
)
