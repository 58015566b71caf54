"""Simulated hall devices that speak the same protocols as the real ones, so the whole hall
runs on one machine with no hardware (DESIGN rule 5)."""
