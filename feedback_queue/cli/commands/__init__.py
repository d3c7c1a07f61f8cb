"""The `fbq` client commands: each talks to the ingest service over gRPC.

connect   the AsyncClient (feedback_queue.client) the command line names
output    tables, JSON and colour (only on a terminal, never with NO_COLOR)
submit    fbq submit                    inspect   fbq status, fbq stats
admin     fbq dead ..., pause, resume   health    fbq health (an exec probe)
bench     fbq bench (a load generator)
"""
