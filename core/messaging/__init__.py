"""Messages in and out: the inbox that stores inbound messages once, the pipeline that
processes them, and sending through the channels."""
