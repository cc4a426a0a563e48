"""Kubeflow objects as the profile controller and KFAM write them: a Profile, and a contributor's RoleBinding."""


def profile(name: str, owner: str) -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": name}, "spec": {"owner": {"kind": "User", "name": owner}}}


def contributor(namespace: str, user: str, role: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": f"user-{user.replace('@', '-')}-{role}", "namespace": namespace, "annotations": {"user": user, "role": role}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"kubeflow-{role}"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
