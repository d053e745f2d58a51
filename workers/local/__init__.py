"""Development tooling that never runs in production: local Kafka brokers and clusters for tests and the demo."""
