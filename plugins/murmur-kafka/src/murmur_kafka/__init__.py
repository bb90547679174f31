"""Kafka broker for murmur (confluent-kafka)."""

__all__: list[str] = []
