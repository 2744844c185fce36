"""rtcc_hub: the add-on that enforces resident-controlled camera sharing."""

__version__ = "0.2.0"
