"""auth.type native: a password per person, with NativeAuthenticator.

People ask for an account at ``/hub/signup``; it opens once an admin approves it
at ``/hub/authorize``. Passwords are stored as bcrypt hashes in the hub's
database; repeated wrong passwords lock the account for a while.

What this subclass adds to NativeAuthenticator:

- the admin users' accounts exist from the first start, approved, with the
  first admin password (generated into the data dir), so the first admin can log
  in on a fresh install and nobody else can claim an admin name by signing up
  first (NativeAuthenticator approves sign-ups of admin names by itself);
- passwords longer than bcrypt's 72 bytes are refused with a message, where
  bcrypt 5 would raise mid-request;
- approval is the only gate: an approved account may log in without also being
  on an allow list (JupyterHub 5 and later allow nobody by default);
- a login page that works on JupyterHub 6: NativeAuthenticator 1.3's own
  (the latest release) still times logins with the hub's statsd client, which
  JupyterHub 6 removed, so every login failed with HTTP 500;
- its approve and discard links (plain GETs, which no xsrf check covers) are
  refused when the browser says another site sent them, so a page elsewhere
  cannot make an admin's browser approve an account.
"""

from __future__ import annotations

from typing import Any

import bcrypt
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native_handlers
from nativeauthenticator.orm import UserInfo
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Unicode, default

BCRYPT_MAX_BYTES = 72


class WorkspacesNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose admin accounts exist from the start."""

    first_admin_password = Unicode(
        "",
        config=True,
        help="""The password each admin user's account starts with, set when the account is
        made (the hub's first start with that admin name); changing it later changes no
        account: admins change their own at /hub/change-password. Empty: admin accounts
        are not made, and admins sign up like everybody else.""",
    )

    @default("allow_all")
    def _allow_all(self) -> bool:
        # authenticate() refuses accounts an admin has not approved
        return True

    @default("db")
    def _db(self) -> Any:
        # NativeAuthenticator keeps its table in the hub's database and has no other
        # session; JupyterHub's default for this trait only adds a deprecation warning
        return self._deprecated_db_session

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        if self.first_admin_password:
            self.make_admin_accounts(self.first_admin_password)

    def make_admin_accounts(self, password: str) -> list[str]:
        """Make an approved account for each admin user that has none; return their names."""
        made = []
        for name in sorted(self.normalize_username(n) for n in self.admin_users):
            if self.get_user(name) is not None:
                continue
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
            self.db.add(UserInfo(username=name, password=hashed, is_authorized=True))
            made.append(name)
        self.db.commit()
        if made:
            self.log.info("Made the admin accounts %s with the first admin password", ", ".join(made))
        return made

    def is_password_strong(self, password: str) -> bool:
        # bcrypt reads 72 bytes; longer passwords would be cut without a word, or raise
        return len(password.encode()) <= BCRYPT_MAX_BYTES and super().is_password_strong(password)

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        if len(str(data.get("password", "")).encode()) > BCRYPT_MAX_BYTES:
            # no stored password is this long; bcrypt 5 raises instead of saying no
            self.add_login_attempt(self.normalize_username(data.get("username", "")))
            return None
        return await super().authenticate(handler, data)

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        ours = {
            r"/login": LoginHandler,
            r"/authorize/([^/]*)": ToggleAuthorizationHandler,
            r"/discard/([^/]*)": DiscardHandler,
        }
        return [(path, ours.get(path, handler)) for path, handler in super().get_handlers(app)]

    def login_refusal(self, username: str) -> str:
        """What the login page says to a refused login; whether the name exists stays untold."""
        if self.allowed_failed_logins:
            minutes = max(1, round(self.seconds_before_next_try / 60))
            return (
                f"Invalid username or password, or the account is not approved yet. After "
                f"{self.allowed_failed_logins} failed logins in a row an account is locked for {minutes} minutes."
            )
        return "Invalid username or password, or the account is not approved yet."


class LoginHandler(native_handlers.LoginHandler):
    """NativeAuthenticator's login page (its template, with the sign-up link), on JupyterHub 6."""

    def _render(self, login_error: str | None = None, username: str | None = None, sync: bool = False, **_: Any) -> Any:
        # JupyterHub renders error pages through here with sync=True
        return self.render_template(
            "native-login.html",
            sync=sync,
            next=url_escape(self.get_argument("next", default="")),
            username=username,
            login_error=login_error,
            custom_html=self.authenticator.custom_html,
            login_url=self.settings["login_url"],
            enable_signup=self.authenticator.enable_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            authenticator_login_url=url_concat(
                self.authenticator.login_url(self.hub.base_url), {"next": self.get_argument("next", "")}
            ),
            xsrf=self.xsrf_token.decode("ascii"),
        )

    async def post(self) -> None:
        # as JupyterHub's own LoginHandler.post: passwords are not stripped, the xsrf token is no credential
        data = {
            arg: self.get_argument(arg, strip=arg == "username")
            for arg in self.request.body_arguments
            if arg != "_xsrf"
        }
        data.setdefault("username", "")
        data.setdefault("password", "")
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        self.set_status(403)
        refusal = self.authenticator.login_refusal(self.authenticator.normalize_username(data["username"]))
        self.finish(await self._render(login_error=refusal, username=data["username"][:64]))


class SameOriginOnly:
    """For GET handlers that change something: refuse requests another site made the browser send.

    Browsers name who started a request in Sec-Fetch-Site; only "same-origin" (a link on the
    hub's own pages) and "none" (typed, a bookmark) are believed. Clients that send no such
    header are not browsers, and cannot be made to send a request by someone else's page.
    """

    async def prepare(self) -> None:
        site = self.request.headers.get("Sec-Fetch-Site", "none")  # type: ignore[attr-defined]
        if site not in ("same-origin", "none"):
            raise web.HTTPError(403, f"Refused a request a {site} page sent: open this link from the hub's own pages")
        await super().prepare()  # type: ignore[misc]


class ToggleAuthorizationHandler(SameOriginOnly, native_handlers.ToggleAuthorizationHandler):
    """/hub/authorize/<name>: approve (or withdraw) an account, from the hub's own page only."""


class DiscardHandler(SameOriginOnly, native_handlers.DiscardHandler):
    """/hub/discard/<name>: delete an unapproved account, from the hub's own page only."""
