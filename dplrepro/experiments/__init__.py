"""Experiment pipelines the chapters call: configuration dataclasses with quick/full profiles."""
