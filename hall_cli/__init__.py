"""The ``hall`` command: bring a whole hall up on one machine, check it, configure a Pi."""
