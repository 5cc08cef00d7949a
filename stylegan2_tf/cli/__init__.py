"""The command-line tools, installed as console scripts (``stylegan2-train``, ``stylegan2-generate``, ...).

Each module has a ``main()`` (``train`` has ``run_main()``, absl's entry); ``tools/<name>.py`` in a source
checkout is a shim that runs the same code. Nothing else in the package imports these modules.
"""
