"""HTTP routes: parse, call a service, map errors."""
