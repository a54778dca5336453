"""The ``aspectbucket`` command: a thin click layer over the library; no logic lives only here."""

from __future__ import annotations

import warnings

import click

from aspectbucket import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="aspectbucket")
def main():
    """See exactly what aspect-ratio bucketing does to an image training dataset.

    Reproduces kohya-ss sd-scripts (the Kohya_ss GUI) bit for bit: the bucket list, the bucket of
    each image, its resize and crop, and the crop coordinates it reports to SDXL; and, with --profile,
    the other trainers, each at a named commit ('aspectbucket profiles' lists them and their settings).
    """
    # Pillow warns on stderr about damaged EXIF ("Corrupt EXIF data", "Possibly corrupted field...")
    # from any thread; the scan and the export already turn what matters into a reason per file.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")


from aspectbucket.cli.assign import assign  # noqa: E402  (commands register after the group exists)
from aspectbucket.cli.buckets import buckets  # noqa: E402
from aspectbucket.cli.compare import compare  # noqa: E402
from aspectbucket.cli.explain import explain  # noqa: E402
from aspectbucket.cli.export import export_command  # noqa: E402
from aspectbucket.cli.ledger import ledger_command  # noqa: E402
from aspectbucket.cli.profiles import profiles  # noqa: E402
from aspectbucket.cli.report import report  # noqa: E402

main.add_command(report)
main.add_command(buckets)
main.add_command(explain)
main.add_command(assign)
main.add_command(compare)
main.add_command(export_command)
main.add_command(ledger_command)
main.add_command(profiles)
