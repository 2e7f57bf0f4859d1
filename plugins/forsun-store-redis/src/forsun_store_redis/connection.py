"""Building the redis-py asyncio client from the store's options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    from forsun.options import Options

#: Backoff between reconnection attempts: 50 ms doubling up to 2 s apart.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0


def build_client(options: Options) -> Redis | RedisCluster:
    """A client for ``--driver-redis-url`` (when set) or host/port/db/password, over TLS
    when ``--driver-redis-ssl`` is on or the URL is ``rediss://``, a cluster client when
    ``--driver-redis-cluster`` is on. Commands failing on a connection error or timeout are
    retried ``--driver-redis-retries`` times with exponential backoff, reconnecting each
    time, so a Redis restart is ridden out."""
    from redis.asyncio import Redis, RedisCluster
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError

    url: str = options.driver_redis_url
    cluster: bool = options.driver_redis_cluster
    ssl: bool = options.driver_redis_ssl or url.startswith("rediss://")
    timeout = float(options.driver_redis_timeout) or None
    kwargs: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE),
                       int(options.driver_redis_retries)),
        "retry_on_error": [ConnectionError, TimeoutError],
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": False,
        "max_connections": int(options.driver_redis_max_connections),
    }
    if options.driver_redis_password:
        kwargs["password"] = options.driver_redis_password  # a password in the URL wins
    if ssl and options.driver_redis_ssl_ca_certs:
        kwargs["ssl_ca_certs"] = options.driver_redis_ssl_ca_certs
    cls = RedisCluster if cluster else Redis
    if url:
        if ssl and url.startswith("redis://"):
            url = "rediss://" + url.removeprefix("redis://")
        return cls.from_url(url, **kwargs)
    kwargs.update(host=options.driver_redis_host, port=int(options.driver_redis_port), ssl=ssl)
    db = int(options.driver_redis_db)
    if cluster:
        if db:
            raise ValueError("--driver-redis-db must be 0 with --driver-redis-cluster "
                             "(Redis Cluster has one database)")
        return RedisCluster(**kwargs)
    return Redis(db=db, **kwargs)
