"""Metrics (metrics), sampled gauges (gauges), logging (logs) and per-site labels (sites)."""
