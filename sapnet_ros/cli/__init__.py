"""Command-line tools that derain files (``sapnet-derain``) and the options every such tool shares."""
