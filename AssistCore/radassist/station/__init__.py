"""RadAssist Station: the assistants and the Segment Editor in a browser (trame-slicer), behind a sign-in."""
