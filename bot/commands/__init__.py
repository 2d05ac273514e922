"""Sub-commands of the ``stabot`` command line."""
