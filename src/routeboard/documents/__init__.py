"""Printable documents for a job: the signed work order and the invoice."""
