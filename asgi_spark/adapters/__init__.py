"""Upstream adapters: one package per upstream protocol."""
