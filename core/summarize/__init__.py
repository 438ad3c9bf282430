"""Summarization of de-identified notes: the embedded extractive default and local Hugging Face models."""
