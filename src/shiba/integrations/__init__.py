"""shiba inside other serving systems: ``ray`` (Ray Serve). Each module imports its system, which is
an optional extra; nothing below this package imports them."""
