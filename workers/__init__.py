"""newswire: a streaming ingestion worker for news articles on Kafka."""

__version__ = "0.1.0"
