"""GDPR: export everything syncd holds on a person, erase it (keeping only a salted hash
tombstone so a later pull does not bring them back), and drop old activity on a schedule."""
