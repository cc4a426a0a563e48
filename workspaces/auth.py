"""Log users in from a header set by a trusted gateway (Kubeflow's ``kubeflow-userid``).

In Kubeflow an auth proxy in front of everything (oauth2-proxy or authservice,
behind the Istio ingress gateway) logs the user in and names them in a header.
Anybody can send that header, so it is believed only on requests that came
from the gateway: the hub's TCP peer is the gateway itself, or it is a trusted
proxy (configurable-http-proxy in front of the hub) and the last entry of
``X-Forwarded-For``, the address that proxy saw, is the gateway. Every other
request is refused, with or without the header. Entries further left in
``X-Forwarded-For`` are the client's own words and never believed.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any

from jupyterhub.auth import Authenticator
from tornado import web
from traitlets import List, Unicode, default, validate


def _networks(proposal: Any) -> list[str]:
    for value in proposal["value"]:
        try:
            ip_network(value)
        except ValueError as e:
            raise ValueError(f"{proposal['trait'].name}: {e}") from None
    return proposal["value"]


def _in(address: str, networks: list[str]) -> bool:
    try:
        ip = ip_address(address.strip().split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in ip_network(n) for n in networks)


class HeaderAuthenticator(Authenticator):
    """Trust the user (and groups) header only on requests that came from the gateway."""

    auto_login = True

    user_header = Unicode("kubeflow-userid", config=True, help="The header that names the user.")
    groups_header = Unicode(
        "kubeflow-groups", config=True,
        help="The header listing the user's groups, comma-separated; empty: groups are not taken from requests.",
    )
    user_prefix = Unicode(
        "", config=True, help="Removed from the start of the user header's value, e.g. 'accounts.google.com:'."
    )
    trusted_sources = List(
        Unicode(), config=True,
        help="Addresses (CIDRs) of the gateway or auth proxy that sets the header. Requests from anywhere else are refused.",
    )
    trusted_proxies = List(
        Unicode(), ["127.0.0.1/32", "::1/128"], config=True,
        help="Addresses (CIDRs) of the proxy in front of the hub: from these peers the last "
        "X-Forwarded-For entry is taken as the request's source.",
    )

    @default("allow_all")
    def _allow_all(self) -> bool:
        # the gateway decides who gets in; an allow list here would be a second one
        return True

    @default("manage_groups")
    def _manage_groups(self) -> bool:
        return bool(self.groups_header)

    _check_sources = validate("trusted_sources")(lambda self, proposal: _networks(proposal))
    _check_proxies = validate("trusted_proxies")(lambda self, proposal: _networks(proposal))

    def source_of(self, handler: web.RequestHandler) -> str:
        """The address the request came from, as far as trusted hops tell it."""
        # the TCP peer: request.remote_ip may come from headers (the hub runs with xheaders)
        peer = str(handler.request.connection.context.address[0])
        if not _in(peer, self.trusted_proxies):
            return peer
        forwarded = ",".join(handler.request.headers.get_list("X-Forwarded-For"))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if not hops:
            # a proxy that does not say who it forwards for hides the source
            return peer if _in(peer, self.trusted_sources) else ""
        return hops[-1]

    @default("auth_refresh_age")
    def _auth_refresh_age(self) -> int:
        # refresh_user below only reads a header: cheap enough to ask (nearly) every request
        return 1

    def named_user(self, handler: web.RequestHandler) -> str:
        """The user the header names, without the prefix ('' when there is none)."""
        name = handler.request.headers.get(self.user_header, "").strip()
        if self.user_prefix and name.startswith(self.user_prefix):
            name = name[len(self.user_prefix):]
        return name

    async def refresh_user(self, user: Any, handler: web.RequestHandler | None = None) -> bool:
        """A hub session belongs to whoever the gateway names now: when someone else has
        logged in to Kubeflow in the same browser, the old session ends and the hub logs
        the new user in. Requests without the header (API tokens) keep their user."""
        if handler is None:
            return True
        name = self.named_user(handler)
        if name and self.normalize_username(name) != user.name:
            self.log.info("The gateway now names %r on a session of %s: logging in again", name, user.name)
            return False
        return True

    async def authenticate(self, handler: web.RequestHandler, data: Any = None) -> dict[str, Any] | None:
        if not self.trusted_sources:
            raise web.HTTPError(500, "HeaderAuthenticator.trusted_sources is empty: no gateway is trusted")
        source = self.source_of(handler)
        name = self.named_user(handler)
        if not _in(source, self.trusted_sources):
            self.log.warning("Refused a login from %s (%s): not a trusted gateway",
                             source or "an unknown address", f"as {name!r}" if name else "no user header")
            raise web.HTTPError(403, f"Log in through the gateway: requests from {source or 'an unknown address'} "
                                     f"are not trusted to name the user in {self.user_header}")
        if not name:
            raise web.HTTPError(403, f"The gateway sent no {self.user_header} header: log in through it")
        model: dict[str, Any] = {"name": name}
        if self.groups_header:
            groups = handler.request.headers.get(self.groups_header, "")
            model["groups"] = sorted({g.strip() for g in groups.split(",") if g.strip()})
        return model
