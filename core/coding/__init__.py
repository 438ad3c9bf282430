"""ICD-10-CM coding of de-identified notes: knowledge, mentions and context, the coders, the step."""
