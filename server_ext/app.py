"""The Explorer extension app and its HTTP handlers."""

import json

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp

from . import __version__


class HealthHandler(APIHandler):
    """``GET <base_url>/explorer/api/health``: the extension is loaded and answering."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": True, "version": __version__}))


class ExplorerApp(ExtensionApp):
    """Serves Explorer's REST API under ``<base_url>/explorer/api/``."""

    name = "explorer"
    handlers = [
        (r"/explorer/api/health", HealthHandler),
    ]
