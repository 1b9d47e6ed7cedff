"""torch nn.Modules and their training loops; no file I/O beyond checkpoints, no CLI."""
