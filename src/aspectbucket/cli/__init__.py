"""The ``aspectbucket`` command: a thin click layer over the library; no logic lives only here."""

from __future__ import annotations

import click

from aspectbucket import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aspectbucket")
def main():
    """See exactly what aspect-ratio bucketing does to an image training dataset.

    Reproduces kohya-ss sd-scripts (the Kohya_ss GUI) bit for bit: the bucket list, the bucket of
    each image, its resize and crop, and the crop coordinates it reports to SDXL.
    """


from aspectbucket.cli.report import report  # noqa: E402  (commands register after the group exists)

main.add_command(report)
