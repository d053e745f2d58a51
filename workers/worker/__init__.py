"""The worker process: the Faust app built from settings (app), the thin agents (agents), its web endpoints (web)."""
