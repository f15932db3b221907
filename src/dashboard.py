"""Serve the live dashboard of the committed data on http://127.0.0.1:DASHBOARD_PORT/ (default 8050).

    python3 dashboard.py

The page refreshes itself every 2 s from /api/state (the same figures as JSON, for scripts).
DASHBOARD_PORT=0 picks a free port; the URL printed on start names it.
"""
import logging
import os
import signal

from werkzeug.serving import make_server

from weather.common.config import ConfigError, Settings
from weather.read.dashboard.app import create_app
from weather.read.dashboard.state import Dashboard
from weather.common.program import ArgumentParser, FatalError, run
from weather.common.storage import open_storage

HOST = "127.0.0.1"  # local only: the page shows the pipeline's internals
DEFAULT_PORT = 8050


def dashboard_port(env):
    raw = env.get("DASHBOARD_PORT", str(DEFAULT_PORT))
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"DASHBOARD_PORT={raw!r} is not a port number (0..65535; 0 picks a free one)")
    return int(raw)


def main():
    ArgumentParser(prog="dashboard.py", description="Serve the live dashboard of the committed data "
                   "(DASHBOARD_PORT sets the port).").parse_args()
    settings = Settings.from_env()
    port = dashboard_port(os.environ)
    app = create_app(Dashboard(settings, open_storage(settings.data_url)))
    try:
        server = make_server(HOST, port, app, threaded=True)
    except OSError as error:
        raise FatalError(f"cannot listen on {HOST}:{port} ({error}); set DASHBOARD_PORT to a free port") from None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request: the page asks every 2 s
    # The dashboard only reads, so a stop may land anywhere: Ctrl-C or SIGTERM ends serve_forever at once.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    print(f"dashboard: http://{HOST}:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    run(main, "python3 dashboard.py")
