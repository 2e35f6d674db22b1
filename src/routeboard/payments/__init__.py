"""Card payments taken on the technician's phone: the provider layer (Stripe and its twin)."""
