#!/bin/sh
echo "remote_coverage_tools is an offline stand-in: coverage report tools are not available (no network)." >&2
exit 1
