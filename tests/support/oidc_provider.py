"""A real OpenID Connect provider for tests: npm's oidc-provider, run by oidc_provider.mjs on loopback.

It knows one client (this hub) and the accounts alice (group analysts) and mallory (group
visitors); people log in on its development pages: their name, any password, then Continue.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
from pathlib import Path

from .hub import REPO, free_ports, wait_for

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")


class OidcProvider:
    """The provider and its one client; the issuer and the client's secret are known before it starts."""

    def __init__(self, client_id: str = "workspaces-hub"):
        [self.port] = free_ports(1)
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, redirect_uri: str, timeout: float = 30) -> OidcProvider:
        """Start, with browsers of the client sent back to ``redirect_uri`` (the hub's callback)."""
        node = shutil.which("node")
        assert node, "node is not installed (make install needs Node.js)"
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), str(self.port), self.client_id, self.client_secret, redirect_uri],
            cwd=REPO,  # finds oidc-provider in the project's node_modules
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"oidc provider exited with {self.proc.returncode}:\n{''.join(self.output)}")
            return f"issuer {self.issuer}\n" in self.output

        wait_for(listening, timeout, "the OpenID provider to listen")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the script exits when its stdin closes
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
