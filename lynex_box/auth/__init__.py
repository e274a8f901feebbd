"""Accounts and access: projects, API keys, users, and the checks every request goes through."""
