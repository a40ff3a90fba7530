"""Dash callbacks, one module per panel or feature; importing registers them."""
