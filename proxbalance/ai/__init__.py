"""AI second opinion (optional extra ``proxbalance[ai]``): OpenAI / OpenAI-compatible, Anthropic or Ollama.

The AI explains the cluster and suggests moves; the engine stays the judge. Modules:
``connection`` (provider, model, key and URL for one call; the stored-key rule), ``transport`` (request
guard, error mapping, retries), ``providers`` (the official clients), ``prompt`` (bounded summary),
``answer`` (schema, tolerant parsing), ``check`` (validation, engine scoring, comparison with the plan),
``service`` (what the API calls).
"""
