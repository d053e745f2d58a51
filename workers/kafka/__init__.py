"""Kafka clients outside the worker: connection options (options), why a connection failed (diagnosis),
reading a topic (reading)."""
