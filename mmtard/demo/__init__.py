"""The embedded offline demo: MMT-ARD's whole story in miniature, on a laptop CPU."""
