"""The only package that knows a messenger: settings, wiring, entry points and channel adapters."""

__all__: list[str] = []
