"""HTTP surface of the gateway: routes, the request guard, and the relays that answer."""
