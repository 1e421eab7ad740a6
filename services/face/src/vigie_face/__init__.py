"""Vigie face service: consented face-watchlist matching where authorised: frames -> matches."""
