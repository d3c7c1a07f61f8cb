"""Where Redis is and how to log in, exactly as the platform's original guide names it.

`REDIS_URL` (`redis://`, `rediss://` for TLS, `unix://`, `redis+sentinel://`) wins; otherwise
`REDIS_HOST`, `REDIS_PORT`, `REDIS_PASSWORD`, `REDIS_USERNAME`, `REDIS_DB`. Errors never echo a
URL or a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from feedback_queue.env import Env
from feedback_queue.errors import ConfigError


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to log in. `repr` never shows the password."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    unix_socket: str | None = None
    # False when neither REDIS_URL nor REDIS_HOST was given: `fbq up` then starts its own.
    configured: bool = False
    connect_timeout: float = 5.0
    # Must exceed the longest blocking command (BLPOP waits at most `block_timeout`).
    socket_timeout: float = 10.0
    tls_ca_cert: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    # Redis Sentinel: ask these sentinels where the master of `sentinel_master` is.
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    # Redis Cluster: REDIS_URL (or REDIS_HOST) names any node; the client finds the rest.
    cluster: bool = False

    @property
    def address(self) -> str:
        """Where Redis is, safe to print: no credentials."""
        if self.sentinels:
            hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"redis+sentinel://{hosts}/{self.sentinel_master}/{self.db}"
        if self.unix_socket:
            return f"unix://{self.unix_socket}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def from_url(cls, url: str, **extra: object) -> RedisSettings:
        """Parse REDIS_URL; errors never echo the URL (it may hold a password)."""
        if url.lower().startswith(("redis+sentinel://", "rediss+sentinel://")):
            return _from_sentinel_url(url, **extra)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError("REDIS_URL: not a valid URL (the port must be a number)") from None
        scheme = parts.scheme.lower()
        if scheme not in {"redis", "rediss", "unix"}:
            raise ConfigError(
                f"REDIS_URL: scheme must be redis://, rediss:// or unix://, got {scheme or 'none'}"
            )
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        if scheme == "unix":
            if not parts.path:
                raise ConfigError("REDIS_URL: a unix:// URL needs a socket path")
            db_text = query.get("db", "0")
        else:
            if not parts.hostname:
                raise ConfigError("REDIS_URL: the URL names no host")
            db_text = parts.path.lstrip("/") or query.get("db", "0")
        if not db_text.isdigit():
            raise ConfigError("REDIS_URL: the database must be a number, as in redis://host:6379/0")
        return cls(
            host=parts.hostname or "localhost",
            port=port or 6379,
            db=int(db_text),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=scheme == "rediss",
            unix_socket=parts.path if scheme == "unix" else None,
            configured=True,
            **extra,  # type: ignore[arg-type]
        )


def _sentinel_hosts(text: str, name: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` (port 26379 when left out)."""
    hosts = []
    for item in (x.strip() for x in text.split(",")):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}: expected host:port,host:port,... of the sentinels")
        hosts.append((host, int(port)))
    return tuple(hosts)


def _from_sentinel_url(url: str, **extra: object) -> RedisSettings:
    scheme, _, rest = url.partition("://")
    credentials, _, rest = rest.rpartition("@")
    hosts, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ConfigError(
            "REDIS_URL: a redis+sentinel:// URL names the master: "
            "redis+sentinel://[:password@]host:26379,host:26379/mymaster[/db]"
        )
    if len(parts) > 1 and not parts[1].isdigit():
        raise ConfigError("REDIS_URL: the database must be a number, as in .../mymaster/0")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    return RedisSettings(
        sentinels=_sentinel_hosts(hosts, "REDIS_URL"),
        sentinel_master=unquote(parts[0]),
        db=int(parts[1]) if len(parts) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
        tls=scheme.lower().startswith("rediss"),
        configured=True,
        **extra,  # type: ignore[arg-type]
    )


def redis_from_env(env: Env) -> RedisSettings:
    """REDIS_URL wins; else FBQ_SENTINEL_HOSTS; else REDIS_HOST and its companions."""
    tls_extra: dict[str, object] = {
        "tls_ca_cert": env.optional("REDIS_TLS_CA_CERT"),
        "tls_cert": env.optional("REDIS_TLS_CERT"),
        "tls_key": env.optional("REDIS_TLS_KEY"),
        "tls_verify": env.flag("REDIS_TLS_VERIFY", True),
    }
    topology: dict[str, object] = {
        "sentinel_password": env.secret("FBQ_SENTINEL_PASSWORD"),
        "cluster": env.flag("FBQ_REDIS_CLUSTER", False),
    }
    url = env.secret("REDIS_URL")
    if url:
        return RedisSettings.from_url(url, **tls_extra, **topology)
    sentinels = env.optional("FBQ_SENTINEL_HOSTS")
    if sentinels:
        return RedisSettings(
            sentinels=_sentinel_hosts(sentinels, "FBQ_SENTINEL_HOSTS"),
            sentinel_master=env.text("FBQ_SENTINEL_MASTER", "mymaster"),
            db=env.integer("REDIS_DB", RedisSettings.db, minimum=0),
            username=env.optional("REDIS_USERNAME"),
            password=env.secret("REDIS_PASSWORD"),
            configured=True,
            **tls_extra,  # type: ignore[arg-type]
            **topology,  # type: ignore[arg-type]
        )
    host = env.optional("REDIS_HOST")
    return RedisSettings(
        host=host or RedisSettings.host,
        port=env.port("REDIS_PORT", RedisSettings.port),
        db=env.integer("REDIS_DB", RedisSettings.db, minimum=0),
        username=env.optional("REDIS_USERNAME"),
        password=env.secret("REDIS_PASSWORD"),
        configured=host is not None,
        cluster=bool(topology["cluster"]),
        **tls_extra,  # type: ignore[arg-type]
    )
