"""The deterministic load simulator.

Platforms (``platforms``), borrowers (``borrower``) and their lives (``life``), the
personas that drive them (``personas``), and the merged load with its bad records
(``load``).
"""
