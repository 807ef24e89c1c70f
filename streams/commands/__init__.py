"""Subcommands of ``creditstream``, one module each.

Each module defines ``register(sub)``, which adds its parser(s) with
``set_defaults(handler=...)``; a handler takes ``(args, settings)`` and returns the exit
code. ``streams.cli`` lists the modules in ``COMMAND_MODULES``.
"""
