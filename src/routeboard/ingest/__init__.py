"""Events arriving from outside: devices over MQTT, webhooks from other software."""
