"""Who is asking: the identity a verified bearer token carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["customer", "operator", "auditor"]
ROLES: tuple[Role, ...] = ("customer", "operator", "auditor")


@dataclass(frozen=True)
class Identity:
    subject: str  # who: a customer id, or an operator's or auditor's name
    role: Role
    customer_id: str | None = None  # set for customers: the only customer whose data they may see

    @property
    def actor(self) -> str:
        """What the events this identity causes record as their actor (metadata `actor`)."""
        return f"api:{self.role}:{self.subject}"

    def owns(self, customer_id: str) -> bool:
        return self.role == "customer" and self.customer_id == customer_id

    @property
    def is_staff(self) -> bool:
        return self.role in ("operator", "auditor")
