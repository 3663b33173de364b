"""Guests vmm ships for x86: assembler sources and the built binaries."""
