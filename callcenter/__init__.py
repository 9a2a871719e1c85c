"""callcenter: self-hosted, multi-tenant, real-time customer-support chat."""
__version__ = "0.1.0"
