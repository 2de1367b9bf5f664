"""Renewal Desk: renewal pipeline and auto-renewals for small insurance agencies."""

__version__ = "0.1.0"
APP_NAME = "Renewal Desk"
APP_ID = "renewal-desk"
