"""The deterministic load simulator.

Platforms, borrowers and their lives, bad records.
"""
