#!/bin/sh
# /usr/local/bin/weft in the agent image: the CLI bundle, talking to this node's agent over
# /var/run/weft/agent.sock.
exec node /opt/weft/weft.mjs "$@"
