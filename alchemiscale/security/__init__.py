"""Authentication (bcrypt-hashed keys, JWT bearer tokens) and scope-based authorization."""
