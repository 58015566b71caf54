"""What every part of the hall shares: the bus contract, configuration schema, storage and logs.

No module here starts a thread, opens a socket or a file at import time; the parts build
what they need in their own factories.
"""
