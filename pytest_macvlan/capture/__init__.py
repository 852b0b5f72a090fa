"""Layer 3, frames: sniffing, parsing, matching, writing and sending frames.

- :mod:`.sniffer`: :class:`~.sniffer.Capture`, a raw ``AF_PACKET`` socket bound inside a namespace;
- :mod:`.frames`: :class:`~.frames.Frame`, raw bytes plus what the kernel said, parsed without scapy;
- :mod:`.predicates`: composable frame predicates (``arp_request() & outgoing``);
- :mod:`.pcap`: pcapng files with each frame's direction;
- :mod:`.send`: what a test sends, turned into bytes with the sending link's addresses filled in.
"""
