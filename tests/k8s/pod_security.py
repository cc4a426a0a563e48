"""Pod Security "restricted" as the API server's admission checks it, for tests on the stand-in.

Covers the checks a workspace pod can meet or miss (the ones on security
contexts, capabilities, host namespaces and hostPath volumes), with the
API server's wording, so a refusal reads as on a real cluster. A real API
server with the namespace label ``pod-security.kubernetes.io/enforce:
restricted`` is the authority.
"""

from __future__ import annotations

from typing import Any

# the one capability "restricted" lets a container add
ALLOWED_TO_ADD = {"NET_BIND_SERVICE"}


def _container_violations(container: dict[str, Any], pod_context: dict[str, Any]) -> list[str]:
    name = container["name"]
    context = container.get("securityContext") or {}
    found = []
    if context.get("privileged"):
        found.append(f'privileged (container "{name}" must not set securityContext.privileged=true)')
    if context.get("allowPrivilegeEscalation") is not False:
        found.append(f'allowPrivilegeEscalation != false (container "{name}" must set securityContext.allowPrivilegeEscalation=false)')
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        found.append(f'unrestricted capabilities (container "{name}" must set securityContext.capabilities.drop=["ALL"])')
    added = sorted(set(capabilities.get("add") or []) - ALLOWED_TO_ADD)
    if added:
        found.append(f'unrestricted capabilities (container "{name}" must not include {", ".join(added)} in securityContext.capabilities.add)')
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        found.append(f'runAsNonRoot != true (pod or container "{name}" must set securityContext.runAsNonRoot=true)')
    if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
        found.append(f'runAsUser=0 (pod or container "{name}" must not set runAsUser=0)')
    seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        found.append(f'seccompProfile (pod or container "{name}" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")')
    return found


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What Pod Security "restricted" refuses in ``pod`` (empty: admitted)."""
    spec = pod["spec"]
    pod_context = spec.get("securityContext") or {}
    found = [f"host namespaces ({key}=true)" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    found += [f'hostPath volumes (volume "{v["name"]}")' for v in spec.get("volumes") or [] if "hostPath" in v]
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        found += _container_violations(container, pod_context)
    return found


def forbidden_message(pod: dict[str, Any], violations: list[str]) -> str:
    """The message of the API server's 403 for a pod that Pod Security refuses."""
    return f'pods "{pod["metadata"]["name"]}" is forbidden: violates PodSecurity "restricted:latest": {", ".join(violations)}'
