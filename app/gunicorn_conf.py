"""gunicorn settings for the web process, derived from Tightship's own config."""

import os

from app.config import load_settings

_settings = load_settings()

bind = f"{_settings.server.host}:{_settings.server.port}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = 30
graceful_timeout = 20
# %(U)s is the path without the query string: some senders can only authenticate with a
# token in the URL, and access logs must not collect it.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
