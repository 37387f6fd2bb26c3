"""The landing zone: raw artifacts as they arrived, read but never modified or deleted."""
