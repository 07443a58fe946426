"""People and identities: the HR population, the manager's mapping table, the leaver test."""
