"""Cross-cutting web pieces: auth, errors, security headers, admin shell, health."""
