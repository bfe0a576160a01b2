"""kxen's integration-suite harness: discovers cases, runs them on the host or in the lab."""
