"""slaprobe: uptime probes into SQLite, and SLA availability out of them."""

__version__ = "0.1.0"
