"""Targets that are not NeRF: classification (digits) and regression (a photograph as a coordinate MLP)."""
