"""Architecture-neutral device models shared by the arch plugins (8250 UART, ...)."""
