"""``GET /usage``: every user's budget and use, and each group's, for admins (the dashboard's admin page).

A user sees their own budget in ``GET /info``; nobody else's.
"""

from __future__ import annotations

from typing import Any

from ..budgets import LIMITS, budget_for, sized_storage, user_budget
from .errors import ApiError
from .handlers import APIHandler

USAGE_SCOPE = "admin:servers"  # who may stop anyone's workspace may see what everyone holds


class UsageHandler(APIHandler):
    async def get(self) -> None:
        if USAGE_SCOPE not in self.caller.get("scopes", []):
            raise ApiError(403, "forbidden", f"the use of every user is for admins (needs the {USAGE_SCOPE} scope)")
        settings, catalog = self.settings_, self.catalog
        users = []
        groups: dict[str, dict[str, Any]] = {}
        async for user in self.hub_items("/users", {"include_stopped_servers": "1"}):
            entry = {"name": user["name"], "groups": sorted(user.get("groups") or []),
                     "budget": user_budget(settings, catalog, user)}
            users.append(entry)
            for group in entry["groups"]:
                total = groups.setdefault(group, {"name": group, "members": 0, "in_use": dict.fromkeys(LIMITS, 0)})
                total["members"] += 1
                for kind in LIMITS:
                    total["in_use"][kind] += entry["budget"][kind]["in_use"]
        for group in groups.values():
            # the limit the group's entry sets for each member (None: it sets none, or no limit)
            budget = budget_for(settings.quotas, "", [group["name"]])
            group["member_limits"] = {
                kind: budget.limit(kind).value if budget.limit(kind).source.startswith("group") else None
                for kind in LIMITS
            }
        self.send({
            "storage_counted": sized_storage(settings) is not None,
            "users": users,
            "groups": sorted(groups.values(), key=lambda g: g["name"]),
        })
