"""What happens to a message, without Kafka or Faust: the pure handler and its idempotence decisions."""
