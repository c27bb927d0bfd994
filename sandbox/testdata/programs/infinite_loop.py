# Busy loop that never ends.
while True:
    pass
