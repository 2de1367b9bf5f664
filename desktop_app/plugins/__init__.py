"""Auto-renewal plugins that ship with Renewal Desk (examples to copy and adapt)."""
