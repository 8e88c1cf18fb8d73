"""Brevo (formerly Sendinblue) connector for syncd."""

from __future__ import annotations

from .connector import BrevoConnector
from .settings import BrevoSettings

__all__ = ["BrevoConnector", "BrevoSettings"]
