"""Shared code of agentbench's Python peer agents (issue #8).

A port of the Rust agent's ingest (``src/ingest``), prompts (``src/prompt``) and
record shape (``src/record``), written so that both Python peers send prompts
byte-identical to the Rust agent's: ``agent.py`` (httpx) and ``ollama_agent.py``
(the official ``ollama`` client) differ only in how they make the two calls.
"""
