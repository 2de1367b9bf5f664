"""Excel in and out: reading the lists agencies have, writing what managers hand around.

This layer turns files into plain rows and rows into files; the services decide what the
rows mean and write them.
"""
