// placeholder: replaced by the technician app
