"""Measurements on trained weights and representations (the core subset).

Weights ``W`` are ``(d, p)``, data ``X`` are ``(n, d)``, representations ``h`` are
``(..., p)``.
"""
