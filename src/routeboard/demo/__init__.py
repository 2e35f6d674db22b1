"""The demo: a fresh database holding one simulated Dallas–Fort Worth working day."""
