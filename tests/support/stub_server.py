"""A stand-in single-user server for tests that need many cheap starts.

It answers every GET with 200 on the port the hub gave it: enough for the hub
to see the server up and ready, in a fraction of a second instead of the
seconds a JupyterLab start takes.
"""

from .users_python import users_python

SOURCE = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

port = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"]).port
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

# a catalog entry's local runtime that starts it, with a Python every workspace's account can run
LOCAL_RUNTIME = {"command": [users_python(), "-c", SOURCE]}
