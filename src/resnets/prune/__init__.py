"""Structured pruning of residual networks (``resnets prune``)."""
