"""Reading spreadsheets of notes and writing the annotated outputs."""
