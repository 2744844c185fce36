"""Shared test support: stand-in Home Assistant, add-on subprocess, city signer, JPEG helpers.

Nothing here imports Home Assistant, PyYAML or anything beyond the add-on's declared
dependencies (aiohttp, cryptography, numpy, PyJWT, PyTurboJPEG, voluptuous) and pytest.
"""
