"""The words agreements are written in: caller roles and request purposes (SPEC §5). The gateway hands
the loader its own lists; these are the defaults and the single place to read them from."""

from __future__ import annotations

ROLES = ("consultant", "customer", "partner", "service_agent", "compliance")
PURPOSES = ("advisory", "service", "complaint", "lead_management", "self_service", "audit")
