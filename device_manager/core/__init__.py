"""Cross-cutting pieces of the device manager: settings, secrets, security, metrics."""
