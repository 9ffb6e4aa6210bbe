"""Remove everything the series created, on either backend, so a workshop leaves nothing running or billed.

Each backend removes what it made (`Backend.clean_up`): locally the servers and leftover replicas
(through their pid records, never an unrelated process) and the run folder; on a cluster every
object labelled part of the series, waited until gone, with what the profile may not list or delete
named in the report. The bucket and image repository go only when asked; the state file's outputs
go last. Safe to run twice; `make clean` runs it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from helpers import backends, errors, removal, report, settings as settings_module, state

# The one state section clean-up keeps: the next run starts from the same bucket and names.
KEPT_SECTION = "settings"


def clean_up(*, settings: settings_module.Settings, bucket: bool = False, repository: bool = False) -> report.Report:
    """Remove what the series created on `settings.backend`; returns one row per thing removed, gone or kept.

    The bucket (with every object version) and the image repository are removed only when
    `bucket` / `repository` are True. Raises ConfigError for an unresolved backend, ClusterError,
    AwsError or WaitTimeout when a removal is refused or does not finish; what is already gone
    never raises. The state file's outputs are forgotten only after everything else went.
    """
    rows = backends.get(settings=settings).clean_up(bucket=bucket, repository=repository)
    rows += _forget_outputs(settings)
    return report.Report(f"Clean-up ({settings.backend} backend)", tuple(rows))


def _forget_outputs(settings: settings_module.Settings) -> list[report.Row]:
    """Remove every state section but the settings, so no later notebook finds an output that is gone."""
    sections = sorted(set(state.read(settings.state_dir)) - {KEPT_SECTION})
    for section in sections:
        state.remove(settings.state_dir, section)
    rows = [report.Row("state section", section, removal.REMOVED) for section in sections]
    if not rows:
        rows.append(report.Row("state sections", "outputs of the notebooks", removal.GONE))
    rows.append(report.Row("state section", KEPT_SECTION, removal.KEPT))
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.cleanup", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", action="store_true", help="also delete the bucket and everything in it")
    parser.add_argument("--repository", action="store_true", help="also delete the image repository")
    parser.add_argument("--state-dir", default=None, help="the state folder (default: the saved or usual one)")
    parser.add_argument("--backend", choices=["local", "kubeflow"], default=None, help="default: the saved one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (`make clean`, `make clean-all`); returns 0, or 2 after a one-line error."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    arguments = _parser().parse_args(argv)
    try:
        settings = settings_module.load(backend=arguments.backend, state_dir=arguments.state_dir)
        done = clean_up(settings=settings, bucket=arguments.bucket, repository=arguments.repository)
    except errors.HelpersError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
