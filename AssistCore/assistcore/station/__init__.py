"""The RadAssist Station's pure parts: accounts, roles and what each role may do."""
