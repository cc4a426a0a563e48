"""Workspaces spawners: the spec-aware base and one class per backend."""
