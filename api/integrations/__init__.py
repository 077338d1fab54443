"""Integrations with outside systems that read or feed the services: Langfuse (traces out,
scores in, review queues) and the Prometheus scrape of the services' state. Above
``api.service`` (they call it), below the HTTP layer (which reports their state).

The Langfuse modules are imported only where Langfuse is configured: the SDK takes most of a
second to import, and a server without Langfuse should not pay it at start-up.
"""
