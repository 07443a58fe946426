"""Fleet (fleetdm.com, osquery) device management."""
