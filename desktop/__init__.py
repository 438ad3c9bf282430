"""The PySide6 desktop application (issue 5). Imports Qt; core/ never imports this package."""
