"""The report every run leaves: pipeline_report.md and its plots."""
