"""Built-in event sources: MQTT and NATS JetStream, each a plugin of its own that
registers its kind through ``register_event_sources``, as a Kafka plugin would."""
