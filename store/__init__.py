"""The application database: tables, engine and sessions, migrations."""
