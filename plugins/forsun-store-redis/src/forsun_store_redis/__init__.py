"""forsun's Redis store (``--driver=redis``): plans in Redis or Redis Cluster, shared by any
number of forsund nodes."""

from forsun import hookimpl
from forsun.options import Option
from forsun.plugins import lazy


@hookimpl
def register_stores(register):
    register("redis", lazy("forsun_store_redis.store:RedisStore"))


@hookimpl
def register_options(register):
    def option(name: str, **kwargs) -> None:
        register(Option(f"driver-redis-{name}", section="store", **kwargs))

    option("host", default="127.0.0.1", help="Redis host")
    option("port", type=int, default=6379, help="Redis port")
    option("db", type=int, default=0, help="Redis database number (0 with a cluster)")
    option("password", default="", secret=True, help="Redis password (empty: none)")
    option("prefix", default="forsun",
           help="prefix of every key; nodes with the same prefix share plans")
    option("server-id", type=int, default=0,
           help="this node's id among the forsund nodes sharing the prefix")
    option("url", default="", metavar="URL",
           help="redis:// or rediss:// URL; when set it replaces host, port, db and "
                "password (a password in the URL wins over --driver-redis-password)")
    option("ssl", type=bool, default=False, help="connect over TLS (also: a rediss:// URL)")
    option("ssl-ca-certs", default="", metavar="PATH",
           help="CA bundle that signed the server's TLS certificate (empty: system CAs)")
    option("cluster", type=bool, default=False,
           help="the host, port or URL is a node of a Redis Cluster")
    option("timeout", type=float, default=10.0, metavar="SECONDS",
           help="connect and reply timeout of one Redis command (0: none)")
    option("max-connections", type=int, default=32,
           help="connections to Redis at most; more concurrent commands wait for one")
    option("heartbeat-interval", type=float, default=1.0, metavar="SECONDS",
           help="how often a node tells Redis it is alive (below --driver-redis-node-lease)")
    option("node-lease", type=float, default=5.0, metavar="SECONDS",
           help="a node silent this long after its last heartbeat (killed, paused, cut off) "
                "has its claimed occurrences taken over by the next claim of another node")
    option("retries", type=int, default=10,
           help="retries of a command failing on a connection error, 50 ms apart doubling "
                "up to 2 s (10 retries ride out a Redis restart of about 13 s)")


@hookimpl
def register_plan_sources(register):
    register("forsun0+redis", lazy("forsun_store_redis.original:OriginalRedisSource"))
