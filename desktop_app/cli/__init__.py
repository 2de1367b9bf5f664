"""The command line: scripted work and the headless door into the same services."""
