"""Placeholder replaced in this session (declares its CLI command)."""


def add_command(sub) -> None:
    pass
