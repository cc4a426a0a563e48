"""What a workspace may reach: the egress NetworkPolicy of the namespaces where workspaces run.

Without one, a workspace reaches everything its node can: the cloud metadata
server (the node's credentials), the cluster's Services and pods, the nodes'
kubelets, internal networks. The hub writes this policy (server-side apply,
at every start, before the pod) in whatever namespace the workspace goes to,
a profile or user namespace included, which no install-time manifest could
know. It selects every workspace pod of the namespace and allows, as
zero-to-jupyterhub's singleuser policy does:

- DNS (port 53, UDP and TCP) to kube-system's pods and to private and
  link-local addresses (node-local caches, the cloud's resolver);
- the hub's API (``kubernetes.egress.hub_pods`` on ``hub.hub_port``);
- with Istio, istiod's port for the sidecar;
- every other address, except private ranges (unless ``private_ips``) and
  the cloud metadata servers (unless ``cloud_metadata``);
- the admin's ``allow`` rules.

Replies to connections that are let in (the proxy's, the hub's) are not
egress: a NetworkPolicy allows them whatever it says about egress.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

from workspaces.config import EgressAllow, EgressPort, WorkspacesConfig

Network = IPv4Network | IPv6Network

# Not the internet: the cluster's pods, Services and nodes live here, and so do internal networks
PRIVATE = tuple(
    ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # RFC 6598 shared space: some clusters' pods, Alibaba's metadata server
        "169.254.0.0/16",  # IPv4 link-local: metadata servers, node-local DNS caches
        "fc00::/7",  # IPv6 unique local (AWS's IPv6 metadata server is fd00:ec2::254)
        "fe80::/10",  # IPv6 link-local
    )
)
# The cloud metadata servers: they hand any caller the node's (or its service account's) credentials
CLOUD_METADATA = tuple(ip_network(n) for n in ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32"))
EVERYWHERE = (ip_network("0.0.0.0/0"), ip_network("::/0"))
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
ISTIOD_PORT = 15012  # a sidecar's configuration and certificates (xDS)
WORKSPACE_PODS = {"app.kubernetes.io/managed-by": "workspaces", "app.kubernetes.io/component": "workspace"}


def blocked(private_ips: bool, cloud_metadata: bool) -> list[Network]:
    """The addresses workspaces may not reach (unless an ``allow`` rule says so), fewest networks."""
    nets = [*(() if private_ips else PRIVATE), *(() if cloud_metadata else CLOUD_METADATA)]
    return [n for n in nets if not any(n != other and n.subnet_of(other) for other in nets if n.version == other.version)]


def ip_blocks(allowed: tuple[Network, ...], excluded: list[Network]) -> list[dict[str, Any]]:
    """ipBlock peers for ``allowed``, each without the ``excluded`` networks inside it."""
    peers = []
    for net in allowed:
        inside = [str(x) for x in excluded if x.version == net.version and x.subnet_of(net) and x != net]
        if any(x.version == net.version and net.subnet_of(x) for x in excluded):
            continue  # all of it is excluded
        peers.append({"ipBlock": {"cidr": str(net), **({"except": inside} if inside else {})}})
    return peers


def namespace_pods(namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A peer: pods of ``namespace`` (with ``labels``), by the label every namespace carries."""
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
    if labels:
        peer["podSelector"] = {"matchLabels": dict(labels)}
    return peer


def _ports(ports: list[EgressPort]) -> list[dict[str, Any]]:
    return [{"port": p.port, "protocol": p.protocol} for p in ports]


def _allow_rule(allow: EgressAllow) -> dict[str, Any]:
    if allow.cidr is not None:
        peer = {"ipBlock": {"cidr": str(allow.cidr), **({"except": [str(n) for n in allow.except_]} if allow.except_ else {})}}
    else:
        peer = namespace_pods(allow.namespace, allow.pod_labels)
    return {"to": [peer], **({"ports": _ports(allow.ports)} if allow.ports else {})}


def _hub_rule(config: WorkspacesConfig) -> dict[str, Any] | None:
    egress, hub = config.kubernetes.egress, config.hub
    port = [{"port": hub.hub_port, "protocol": "TCP"}]
    if egress.hub_pods is not None:
        return {"to": [namespace_pods(egress.hub_pods.namespace, egress.hub_pods.pod_labels)], "ports": port}
    # a hub outside the cluster, named by its address
    url = urlsplit(hub.connect_url) if hub.connect_url else None
    host = url.hostname if url else hub.hub_ip
    try:
        address = ip_address(host or "")
    except ValueError:
        return None  # a name: reached through the other rules, or an allow rule
    if address.is_loopback or address.is_unspecified:
        return None  # the pod's own loopback never meets a NetworkPolicy
    port = [{"port": url.port if url and url.port else hub.hub_port, "protocol": "TCP"}]
    return {"to": [{"ipBlock": {"cidr": str(ip_network(address))}}], "ports": port}


def egress_policy(config: WorkspacesConfig) -> dict[str, Any] | None:
    """The NetworkPolicy that limits the egress of the workspaces in a namespace; None when not limited."""
    settings = config.kubernetes.egress
    if not settings.enabled:
        return None
    excluded = blocked(settings.private_ips, settings.cloud_metadata)
    dns_to = [namespace_pods("kube-system")]
    if not settings.private_ips:
        dns_to += ip_blocks(PRIVATE, [])  # with private_ips these are in the rule for everything
    rules: list[dict[str, Any]] = [{"to": dns_to, "ports": DNS_PORTS}]
    if hub := _hub_rule(config):
        rules.append(hub)
    if config.kubernetes.istio:
        rules.append({"to": [namespace_pods(settings.istio_namespace)], "ports": [{"port": ISTIOD_PORT, "protocol": "TCP"}]})
    everywhere = ip_blocks(EVERYWHERE, excluded)
    if settings.cloud_metadata and not settings.private_ips:
        everywhere += ip_blocks(CLOUD_METADATA, [])  # inside the blocked private ranges: opened one by one
    rules.append({"to": everywhere})
    rules += [_allow_rule(a) for a in settings.allow]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": settings.policy_name, "labels": {"app.kubernetes.io/managed-by": "workspaces"}},
        "spec": {"podSelector": {"matchLabels": dict(WORKSPACE_PODS)}, "policyTypes": ["Egress"], "egress": rules},
    }
