"""This worker's sockets: the hub (routes bus events to local sockets, presence, heartbeats), one
`Connection` per socket (transport: output batching and backpressure, the inbound token bucket,
authentication), its `DeliveryCursor` (ordered, gap-free, de-duplicated delivery and resume) and the
client's frames (`frames`). The Tornado handler (`handlers/ws.py`) stays thin and delegates here."""
