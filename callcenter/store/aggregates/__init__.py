"""The store's queries, one module per aggregate; `callcenter.store.Store` puts them together."""
