"""The LLM layer: any OpenAI-compatible endpoint, configured in ``config.toml``'s ``[llm]``.

Without an ``[llm]`` table the pipeline stays offline. With one, the top stage
asks the model which objects are the feature under test (``top``), and the
data stage, when a spec sets ``llm_prompt_for_case``, has it write the task
statement and the docstrings stubs lack (``cases``). Every request goes
through :class:`orchestrator.llm.client.LLM`: concurrency, retries, the cache
and the call logs live there, nowhere else.
"""
