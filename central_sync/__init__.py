"""Sync between halls and the centre: the central server (``central_sync.server``) and, in
later work, the sync client the edge agent and kiosks use. The two sides share only the
HTTP API (DESIGN rule 2)."""
