"""The Model Context Protocol endpoint at /mcp: the API's routes as tools, for OAuth clients."""
