"""Routeboard: dispatch, scheduling and live technician availability for mobile auto service."""

__version__ = "0.1.0"
