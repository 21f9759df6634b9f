"""Running the studio: uvicorn on the configured host and port, the URL printed, Ctrl-C stops it within
seconds (open connections get a short grace period; running jobs are cancelled and their files removed)."""
from __future__ import annotations

import logging
import socket

from ..errors import UsageError
from .config import ServerSettings

log = logging.getLogger(__name__)
_GRACE_S = 2


def _bind(config: ServerSettings) -> socket.socket:
    """The listening socket, bound before uvicorn starts, so the printed URL names the real port (also for
    ``--port 0``) and a busy port is one line."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def exposure_warning(config: ServerSettings) -> str | None:
    """The warning for a server reachable from other machines (None on loopback)."""
    if config.loopback:
        return None
    return (f"listening on {config.host}, reachable from other machines: anyone who can reach it can use the "
            "studio and change its presets")


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_server(config: ServerSettings, *, announce=None) -> int:
    """Serve until Ctrl-C (or SIGTERM); ``announce(url)`` is told where (default: printed on stdout)."""
    import uvicorn

    from .app import build_app

    sock = _bind(config)
    port = sock.getsockname()[1]
    url = url_of(config.host, port)
    warning = exposure_warning(config)
    if warning:
        log.warning("%s", warning)
    app = build_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=_GRACE_S,
                                           ws_max_size=16 * 1024 * 1024, lifespan="on"))
    (announce or (lambda u: print(f"vidbokeh studio: {u}  (Ctrl-C stops)", flush=True)))(url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn hands Ctrl-C on once it has shut down (lifespan clean-up done)
        return 130
    finally:
        sock.close()
    return 0 if server.started else 1
