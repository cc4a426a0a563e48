"""The attacker's suite: each way one user could act as another, tried. Kubernetes attacks use the
Kubernetes tests' namespace fixtures (restricted namespaces on the real control plane)."""

from ..k8s.conftest import config_file, namespace  # noqa: F401 (fixtures)
