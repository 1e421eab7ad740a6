"""Vigie face service: Consented face-watchlist matching, only where authorised: frames -> face matches."""
