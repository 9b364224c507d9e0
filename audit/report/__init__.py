"""Reporters: pure functions from a Report to text. One module per format; none walks files."""
