"""A stateful local emulator of Microsoft Graph v1.0 (calendar) and the Microsoft identity platform."""

from .emulator import GraphEmulator
from .state import TenantState

__all__ = ["GraphEmulator", "TenantState"]
__version__ = "1.0.0"
