"""Pure hashing library: safe decoding, border trimming and perceptual hashers.

Nothing here touches a database, the network or the web layer.
"""
