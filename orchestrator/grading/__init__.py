"""Grading patches against cases, and exporting cases for other harnesses."""
