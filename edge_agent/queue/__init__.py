"""The hall's queue: the engine (tickets, counters, who is called next) over SQLite, and the
service that connects it to the bus (ticket and counter requests in; the board's state and
calls out)."""
