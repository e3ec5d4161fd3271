"""The shared store: directory, folders and messages, blobs, outbound queue, change events."""
