"""What a CNI would do with a pod's egress, given the NetworkPolicies the API server holds.

No CNI runs where the tests do, so nothing enforces NetworkPolicies there.
This is the stand-in: the semantics of ``networking.k8s.io/v1`` NetworkPolicy
egress, as https://kubernetes.io/docs/concepts/services-networking/network-policies/
states them, applied to policies read back from the real API server.

- A pod is isolated for egress when some policy of its namespace selects it
  (``podSelector``) and has ``Egress`` in its ``policyTypes`` (which default to
  ``Ingress``, plus ``Egress`` when the policy has egress rules). A pod no
  policy isolates may send anything anywhere.
- An isolated pod's connection is allowed when some rule of some policy that
  selects it allows it (policies add up; none takes away): one of its ``to``
  peers matches the destination (no ``to``: every destination) and one of its
  ``ports`` matches the port and protocol (no ``ports``: every port).
- Peers: ``podSelector`` alone selects pods of the policy's own namespace;
  ``namespaceSelector`` alone, every pod of the namespaces it selects; both,
  the pods it selects in those namespaces; ``ipBlock``, addresses in its
  ``cidr`` and in none of its ``except``. An ipBlock is matched against the
  destination's address whatever it is: the documentation leaves pod
  addresses to the CNI, and treating them as addresses is the stricter reading.
- Ports: ``protocol`` defaults to TCP; a named port matches a destination
  pod's container port of that name (an address has no named ports); ``endPort``
  makes a range.

Only egress: replies to allowed connections are not egress, and ingress is a
CNI's other half.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from typing import Any


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: its namespace, labels, address and named container ports."""

    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    named_ports: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (port, protocol)

    @classmethod
    def of(cls, pod: dict[str, Any]) -> Pod:
        """A pod object as the API server gives it."""
        meta, spec = pod["metadata"], pod.get("spec", {})
        named = {
            p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
            for c in spec.get("containers", [])
            for p in c.get("ports", [])
            if p.get("name")
        }
        return cls(meta["namespace"], dict(meta.get("labels") or {}), pod.get("status", {}).get("podIP"), named)


@dataclass(frozen=True)
class Destination:
    """Where a connection goes: a pod (in the cluster) or a bare address, a port and a protocol."""

    port: int
    protocol: str = "TCP"
    pod: Pod | None = None
    ip: str | None = None

    @property
    def address(self) -> str | None:
        return self.ip or (self.pod.ip if self.pod else None)


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector: every matchLabels pair and every matchExpressions requirement holds; {} selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req["key"], req["operator"], req.get("values") or []
        held = {
            "In": lambda: key in labels and labels[key] in values,
            "NotIn": lambda: key not in labels or labels[key] not in values,
            "Exists": lambda: key in labels,
            "DoesNotExist": lambda: key not in labels,
        }
        if op not in held:
            raise ValueError(f"unknown selector operator {op!r}")
        if not held[op]():
            return False
    return True


def policy_types(policy: dict[str, Any]) -> list[str]:
    """policyTypes as the API server defaults them."""
    spec = policy["spec"]
    if spec.get("policyTypes"):
        return spec["policyTypes"]
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def isolating(policies: list[dict[str, Any]], pod: Pod) -> list[dict[str, Any]]:
    """The policies that isolate ``pod`` for egress: of its namespace, selecting it, of type Egress."""
    return [
        p for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and selects(p["spec"].get("podSelector"), pod.labels)
        and "Egress" in policy_types(p)
    ]


def peer_matches(peer: dict[str, Any], policy_namespace: str, to: Destination, namespaces: dict[str, dict[str, str]]) -> bool:
    """One ``to`` entry against the destination; ``namespaces``: every namespace's labels."""
    if "ipBlock" in peer:
        if to.address is None:
            return False
        address = ip_address(to.address)
        block = peer["ipBlock"]
        cidr = ip_network(block["cidr"])
        if address.version != cidr.version or address not in cidr:
            return False
        return not any(address in ip_network(x) for x in block.get("except") or [] if ip_network(x).version == address.version)
    if to.pod is None:
        return False  # selectors name pods, never bare addresses
    if "namespaceSelector" in peer:
        if to.pod.namespace not in namespaces:
            raise KeyError(f"labels of namespace {to.pod.namespace!r} not given")
        if not selects(peer["namespaceSelector"], namespaces[to.pod.namespace]):
            return False
    elif to.pod.namespace != policy_namespace:
        return False  # a podSelector alone: the policy's own namespace
    return selects(peer.get("podSelector"), to.pod.labels)


def port_matches(entry: dict[str, Any], to: Destination) -> bool:
    protocol = entry.get("protocol", "TCP")
    if protocol != to.protocol:
        return False
    port = entry.get("port")
    if port is None:
        return True  # every port of the protocol
    if isinstance(port, str):
        named = to.pod.named_ports.get(port) if to.pod else None
        return named == (to.port, to.protocol)
    return port <= to.port <= entry.get("endPort", port)


def rule_allows(rule: dict[str, Any], policy_namespace: str, to: Destination, namespaces: dict[str, dict[str, str]]) -> bool:
    peers, ports = rule.get("to"), rule.get("ports")
    if peers and not any(peer_matches(p, policy_namespace, to, namespaces) for p in peers):
        return False
    return not ports or any(port_matches(p, to) for p in ports)


def egress_allowed(policies: list[dict[str, Any]], pod: Pod, to: Destination, namespaces: dict[str, dict[str, str]]) -> bool:
    """Would a CNI let ``pod`` open this connection? ``policies``: NetworkPolicies of the cluster (any namespaces)."""
    isolated_by = isolating(policies, pod)
    if not isolated_by:
        return True
    return any(
        rule_allows(rule, p["metadata"]["namespace"], to, namespaces)
        for p in isolated_by
        for rule in p["spec"].get("egress") or []
    )
