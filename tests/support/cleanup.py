"""Removing what a test made through the workspaces API."""

from workspaces.client import APIError, Client


def delete_workspace(client: Client, owner: str, name: str) -> None:
    """Delete the workspace if it is there, and wait until it is gone."""
    try:
        client.delete_workspace(owner, name)
    except APIError as e:
        if e.code != "not_found":
            raise
    client.wait_deleted(owner, name, timeout=60)
