"""LwM2M devices (issue 25, in progress): the wire formats, links and the object registry the server
role will use. Nothing here opens a socket or imports aiocoap; the settings may import this package.
"""
