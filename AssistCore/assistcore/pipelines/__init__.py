"""One pipeline module per assistant, each with ``run(images, options, progress, cancel_token)``.

The Slicer modules find them by name (AssistCoreLib.pipelines.findPipeline); the command line calls the
same functions.
"""
