"""gunicorn settings for the web process, derived from Tightship's own config."""

import gc
import os

from app.config import load_settings

_settings = load_settings()

bind = f"{_settings.server.host}:{_settings.server.port}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads keep a worker busy while another request waits on SQLite's write lock or fsync.
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
# gunicorn >= 24 opens a control socket at one fixed path per user; several Tightships (or
# a demo beside a dev server) on one machine would fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = "-"
# %(U)s is the path without the query string: some senders can only authenticate with a
# token in the URL, and access logs must not collect it.
access_log_format = "remote=%(h)s method=%(m)s path=%(U)s status=%(s)s bytes=%(B)s ms=%(M)s"
# gunicorn's own lines in the same one-JSON-object-a-line format as Tightship's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def post_worker_init(worker: object) -> None:
    """Take the loaded app (Flask, SQLAlchemy, every import) out of the collector's view: a
    full collection walked all of it, a 70 ms stall about once every few thousand webhooks,
    which set the p99 while the worker held the store's write turn."""
    del worker
    gc.freeze()
