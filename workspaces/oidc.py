"""auth.type oidc: an OpenID Connect provider logs people in, through OAuthenticator.

OAuthenticator's GenericOAuthenticator speaks OAuth 2 with endpoints it is given;
this module reads them from the provider's discovery document (OpenID Connect
Discovery 1.0) and turns ``auth.oidc`` into its traits. The client secret comes
from the environment (the chart fills it from a Kubernetes Secret), never from
workspaces.yaml, which a ConfigMap holds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .config import AuthSettings

ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")


class OidcError(Exception):
    """The provider or the client secret cannot be used (one line)."""


def discover(issuer: str, timeout: float = 10) -> dict[str, Any]:
    """The provider's discovery document, checked to name this issuer and the endpoints used."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) checked by the config)
            document = json.load(response)
    except urllib.error.HTTPError as e:
        raise OidcError(f"auth.oidc.issuer: {url} answered HTTP {e.code}; is the issuer URL right?") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise OidcError(f"auth.oidc.issuer: cannot read {url}: {reason}") from None
    except ValueError:
        raise OidcError(f"auth.oidc.issuer: {url} is not a JSON discovery document") from None
    if not isinstance(document, dict):
        raise OidcError(f"auth.oidc.issuer: {url} is not a JSON discovery document")
    # OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was asked for
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise OidcError(f"auth.oidc.issuer: {url} names the issuer {document.get('issuer')!r}, not {issuer!r}")
    missing = [key for key in ENDPOINTS if not document.get(key)]
    if missing:
        raise OidcError(f"auth.oidc.issuer: {url} names no {', '.join(missing)}")
    return document


def authenticator_config(
    auth: AuthSettings, hub_url: str, environ: Mapping[str, str], discovery: Mapping[str, Any]
) -> dict[str, Any]:
    """GenericOAuthenticator's traits for ``auth`` (type oidc), the hub at ``hub_url`` (public, with base_url)."""
    oidc = auth.oidc
    assert oidc is not None, "auth.type oidc without auth.oidc passed the config check"
    secret = environ.get(oidc.client_secret_env, "")
    if not secret:
        raise OidcError(
            f"auth.oidc.client_secret_env: ${oidc.client_secret_env} is not set; it must hold the OIDC client secret"
        )
    return {
        "client_id": oidc.client_id,
        "client_secret": secret,
        "oauth_callback_url": oidc.callback_url or f"{hub_url.rstrip('/')}/hub/oauth_callback",
        "authorize_url": discovery["authorization_endpoint"],
        "token_url": discovery["token_endpoint"],
        "userdata_url": discovery["userinfo_endpoint"],
        "scope": list(oidc.scopes),
        "username_claim": oidc.username_claim,
        # the hub's groups are the provider's: allowed_groups and admin_groups are read from them,
        # and so are group-limited images. OAuthenticator keeps the userinfo answer as "oauth_user".
        "manage_groups": True,
        "auth_state_groups_key": f"oauth_user.{oidc.groups_claim}",
        "allowed_users": set(oidc.allowed_users),
        "allowed_groups": set(oidc.allowed_groups),
        "admin_users": set(auth.admin_users),
        "admin_groups": set(oidc.admin_groups),
        "allow_all": oidc.allow_all,
        # a user the provider no longer puts in an allowed group is not let in by an old hub record
        "allow_existing_users": False,
        "login_service": urlsplit(oidc.issuer).hostname or "OpenID Connect",
    }
