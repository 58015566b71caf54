"""The hall MQTT bus: ``contract`` (topics and payloads, no MQTT client) and ``client``
(the paho-mqtt adapter)."""
