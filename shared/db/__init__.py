"""Database helpers shared by the services (migrations)."""
