"""One module per codec family; the registry (``omnicodec.registry``) maps ids to classes."""
