"""The downstream contract: every topic (topics) and the JSON Schemas of its messages (schemas)."""
