"""The `fbq` client commands: each talks to the ingest service over gRPC.

connect   the channel, the token and the one map from gRPC errors to messages
output    tables, JSON and colour (only on a terminal, never with NO_COLOR)
submit    fbq submit                    inspect   fbq status, fbq stats
admin     fbq dead ..., pause, resume   health    fbq health (an exec probe)
bench     fbq bench (a load generator)
"""
