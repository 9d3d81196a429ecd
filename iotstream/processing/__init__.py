"""The event-time stream engine: windows, watermarks, lateness, keyed state.

Time here is always the time a reading was *measured* (event time), in UTC epoch milliseconds.
"""
