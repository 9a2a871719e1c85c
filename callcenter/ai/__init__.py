"""AI replies through a Gemini worker queue.

- `service.AIService` (one per process, `services.ai`; None without GEMINI_API_KEY): the tenant's AI
  settings, the hook that queues a job for each visitor message the AI should answer, agent assist
  (suggested reply, summaries).
- `queue`: a Redis Streams consumer group when Redis is configured (read by `callcenter ai-worker`
  processes; a job whose worker died is reclaimed), an asyncio queue inside `serve` otherwise.
- `worker.Responder` answers one job (prompt, model call, handoff, the reply as a normal message);
  `worker.AIWorker` runs jobs from a queue.
- `provider.GeminiProvider`: google-genai's async client with a deadline, retries with backoff on
  429/5xx and a circuit breaker.
- `prompt`: what the model sees (visitor text only ever in the user role) and what it says back.
"""
