"""The trading desk app: pages over the TITAN services, all through `titan.client`."""
