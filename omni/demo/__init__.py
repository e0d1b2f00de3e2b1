"""The built-in synthetic world (`synth`) and the `omni demo` command that runs omni end to end on it."""
