"""One module per channel; ``channels.base`` holds the contract, registry and outbox worker."""
