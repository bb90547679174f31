"""RabbitMQ broker for murmur."""

__all__: list[str] = []
