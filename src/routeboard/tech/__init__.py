"""The technician's phone: their day, each job's next step and what still stands in its way."""
