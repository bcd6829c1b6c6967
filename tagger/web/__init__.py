"""The LF review web app (``tagger serve``) and its accounts (``tagger users``); see ``tagger/web/app.py``.

Imports nothing heavy at import time: the CLI loads this package on every start."""
from tagger.web.cli import serve, users_app

__all__ = ["serve", "users_app"]
