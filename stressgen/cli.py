"""The ``stressgen`` command: parse, load the spec, call the library, write outputs. No computation here.

    stressgen run SPEC [--seed N] [--worlds N] [--out DIR]     fit, sample, backtest, write the report, print
                                                               a summary table per strategy
    stressgen fit SPEC -o MODEL_DIR                            fit the spec's generator and save it
    stressgen sample SPEC -o WORLDS.safetensors                draw the spec's worlds into a file
    stressgen list generators|strategies|datasets              strategies with their parameters and defaults
    stressgen report RESULTS_DIR                               re-render a results directory
    stressgen evaluate SPEC [--out DIR]                         out-of-sample fidelity scorecard
                                                                (and calibration)
    stressgen anomalies SPEC [--top N]                          the most anomalous periods of the data
    stressgen reverse SPEC --strategy NAME --loss 0.25          the most plausible worlds where a strategy
                                                                loses at least that much (reverse stress)

Any error exits non-zero with one line on stderr (exit 1 for a problem with the input, 3 for an internal
error); ``--debug`` prints the traceback instead. Progress bars go to stderr, so stdout carries only results.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["app", "main"]

app = typer.Typer(name="stressgen", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Distributions of strategy P&L and risk over thousands of synthetic market histories.")

EXIT_INPUT, EXIT_INTERNAL = 1, 3
_STAGES = {"data": "loading data", "fit": "fitting generator", "worlds": "worlds",
           "strategies": "strategies (chunk)",
           "real": "real history", "worst": "worst worlds", "aggregate": "aggregating",
           "fidelity": "fidelity scorecard", "overfit": "overfitting (grids)",
           "stress": "stress cases", "stress: worlds": "worlds (stress case)",
           "reverse": "reverse stress", "reverse: worlds": "worlds (reverse stress)",
           "reverse: drivers": "loss drivers (reverse stress)", "drivers": "loss drivers",
           "calibration: worlds": "worlds (origin)", "resumed": "chunks from an earlier run"}

SpecArg = Annotated[Path, typer.Argument(help="TOML run spec, e.g. scenarios/quickstart.toml",
                                         show_default=False)]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on error.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Override [simulation].seed.", show_default=False)]
Worlds = Annotated[int | None, typer.Option("--worlds", help="Override [simulation].worlds.",
                                            show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def _errors(debug: bool) -> Iterator[None]:
    """One line on stderr and a non-zero exit for any error; the traceback only with --debug."""
    from .errors import StressgenError
    from .terminal import demangle  # users see file.py:Class, never the loader's module name for a file

    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("stressgen: interrupted\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: every error becomes one line
        user = isinstance(exc, StressgenError | OSError)
        if debug:
            sys.stderr.write(demangle(traceback.format_exc()))
        message = demangle(" ".join(str(exc).split()) or type(exc).__name__)
        if not user:
            message = f"internal error: {type(exc).__name__}: {message}" + ("" if debug else
                                                                           " (rerun with --debug)")
        sys.stderr.write(f"stressgen: error: {message}\n")
        raise typer.Exit(EXIT_INPUT if user else EXIT_INTERNAL) from None


@contextlib.contextmanager
def _bars(quiet: bool) -> Iterator:
    """A `pipeline.Progress` callback drawing one rich bar per stage (on stderr)."""
    if quiet:
        yield None
        return
    progress = Progress(TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=_stderr(), transient=False)
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=max(total, 1))
        progress.update(tasks[stage], completed=done, total=max(total, 1))

    with progress:
        yield update


def _load(spec: Path, *, seed: int | None = None, worlds: int | None = None, out: Path | None = None):
    """The spec, with the command line's overrides. Every command that loads a spec goes on to compute with
    JAX, so this is where the explicit device setup and the on-disk compilation cache are set (before the
    first JAX call); ``--help`` and ``list`` never get here and stay fast."""
    from .devices import use_compilation_cache, use_cpu_cores
    from .spec import load_spec

    use_cpu_cores()
    use_compilation_cache()  # compiled programs kept on disk: a second run of a spec skips most compiling
    return load_spec(spec).with_overrides(seed=seed, worlds=worlds, out=out)


def _resume_note(stage: str, done: int, total: int) -> None:
    """Without bars (--quiet), a resumed run still says so: its first chunks come from an earlier run."""
    if stage == "resumed":
        sys.stderr.write(f"stressgen: resuming: {done} of {total} chunks were written by an earlier run of "
                         "this spec\n")


@app.command()
def run(spec: SpecArg,
        seed: Seed = None, worlds: Worlds = None,
        out: Annotated[Path | None, typer.Option("--out", help="Override [report].out (results directory).",
                                                 show_default=False)] = None,
        executor: Annotated[str, typer.Option("--executor", help="Where chunks of worlds run: local (this "
                                              "process), processes (a local process pool) or ray.")] = "local",
        address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (--executor ray); "
                                                    "default: a new local Ray instance.",
                                                    show_default=False)] = None,
        workers: Annotated[int | None, typer.Option("--workers", help="Process count (--executor processes); "
                                                    "default: one per core.", show_default=False)] = None,
        chunk_dir: Annotated[Path | None, typer.Option("--chunk-dir", help="Where chunk files go (every worker "
                                                       "must see it); default: inside the results directory.",
                                                       show_default=False)] = None,
        quiet: Quiet = False, debug: Debug = False) -> None:
    """Fit, sample, backtest every strategy on every world, and write the report.

    Worlds run in chunks that are written to files as they finish, so a rerun of an interrupted run resumes
    where it stopped (docs/distributed.md)."""
    with _errors(debug):
        from . import chunk_run, pipeline, report
        from .executors import executor_for
        from .terminal import format_stress, format_summary
        from .types import PERIODS_PER_YEAR, period_words

        run_spec = _load(spec, seed=seed, worlds=worlds, out=out)
        report.check_output_dir(run_spec.out_dir)  # before any compute, not after it
        root = chunk_dir.absolute() if chunk_dir is not None else None
        with executor_for(executor, address=address, workers=workers) as pool, _bars(quiet) as progress:
            result = pipeline.run(run_spec, progress=progress or _resume_note, executor=pool,
                                  chunks=root if root is not None else chunk_run.default_root(run_spec))
        # rendering the page and writing the files takes a second or two: say what is happening
        with contextlib.nullcontext() if quiet else _stderr().status("writing the report"):
            path = report.write_outputs(result, run_spec.out_dir)
        # published: the chunk files are not needed to resume any more
        chunk_run.remove(run_spec, result.generator.params_digest, root)
        seconds = sum(result.timings.values())
        typer.echo(format_summary(result))
        if result.stress:
            typer.echo(format_stress(result))
        typer.echo(f"report: {path.absolute()}")
        if result.plausibility is not None and result.plausibility.failures:
            # one plain line even with --quiet (rich would wrap it); [report] strict = true makes it an error
            sys.stderr.write(result.plausibility.summary_line() + "\n")
        for grid in result.overfit:  # one plain line per grid whose real-history winner is not robust
            if not grid.robust:
                sys.stderr.write(f"overfitting: {grid.strategy}: {grid.warnings[0]} (report: Overfitting)\n")
        for case in result.stress:  # one plain line per stress case whose weights rest on few worlds
            if case.low_ess:
                sys.stderr.write(f"stress: {case.name}: {case.notes[0]} (report: Stress scenarios)\n")
        ppy = PERIODS_PER_YEAR.get(result.data.freq, 252)
        if pipeline.horizon_assumed(run_spec, ppy):  # 252 weeks or months: say it was a default, not a choice
            sys.stderr.write(f"horizon: {result.conventions['horizon']}\n")
        # one line for the generator and each strategy whose windows are business-day defaults on other data
        for line in filter(None, result.conventions.get("business_day_defaults", "").split(" | ")):
            sys.stderr.write(f"business-day defaults: {line}\n")
        if not quiet:
            day = period_words(ppy)[0]
            _stderr().print(f"{result.n_worlds} worlds x {result.horizon} {day}s x {len(result.assets)} "
                            f"assets, {len(result.strategies)} strategy runs in {seconds:.1f} s")


@app.command()
def fit(spec: SpecArg,
        output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.",
                                             show_default=False)],
        seed: Seed = None, quiet: Quiet = False, debug: Debug = False) -> None:
    """Fit the spec's generator on its data and save it (model.json + arrays.safetensors)."""
    with _errors(debug):
        from . import pipeline

        run_spec = _load(spec, seed=seed)
        with _bars(quiet) as progress:
            path, info = pipeline.fit_to_dir(run_spec, output, progress=progress)
        for w in info.warnings:
            _stderr().print(f"warning: {w}")
        typer.echo(f"model: {path.absolute()}")


@app.command()
def sample(spec: SpecArg,
           output: Annotated[Path, typer.Option("--output", "-o",
                                                help="Worlds file to write (*.safetensors).",
                                                show_default=False)],
           seed: Seed = None, worlds: Worlds = None, quiet: Quiet = False, debug: Debug = False) -> None:
    """Draw the spec's worlds into a safetensors file (log_returns [worlds, horizon, assets], float32)."""
    with _errors(debug):
        from . import pipeline

        run_spec = _load(spec, seed=seed, worlds=worlds)
        with _bars(quiet) as progress:
            path = pipeline.sample_to_file(run_spec, output, progress=progress)
        typer.echo(f"worlds: {path.absolute()}")


class Listable(str, Enum):
    generators = "generators"
    strategies = "strategies"
    datasets = "datasets"


@app.command(name="list")
def list_(what: Annotated[Listable, typer.Argument(help="What to list.")], debug: Debug = False) -> None:
    """List the registered generators, strategies (with their parameters and defaults) or bundled data
    sets."""
    with _errors(debug):
        header, rows = _listing(what.value)
        table = Table(show_header=True, header_style="bold", show_lines=what.value == "strategies")
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console(highlight=False, width=120).print(table)


def _listing(what: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Column names and one row per registered item: name, first paragraph of its docstring (or
    description), and for strategies the parameters with their defaults (what ``params = {...}`` in a spec
    may set). Read from the sources (`stressgen.catalog`), so listing imports no JAX."""
    from . import catalog

    if what == "datasets":
        return ("name", "description"), list(catalog.DATASETS.items())
    if what == "generators":
        return ("name", "description"), [(name, c.summary) for name, c in catalog.generators().items()]
    from .terminal import format_parameters

    return (("name", "description", "parameters (defaults)"),
            [(name, c.summary, format_parameters(c.fields)) for name, c in catalog.strategies().items()])


@app.command()
def report(results_dir: Annotated[Path, typer.Argument(help="A directory written by `stressgen run`.")],
           debug: Debug = False) -> None:
    """Re-render report.html, summary.json and metrics.parquet from a results directory."""
    with _errors(debug):
        from . import report as report_

        result = report_.load_results(results_dir)
        path = report_.write_outputs(result, results_dir)
        typer.echo(f"report: {path.absolute()}")


@app.command()
def evaluate(spec: SpecArg,
             out: Annotated[Path | None, typer.Option("--out",
                                                      help="Directory of fidelity.json/.parquet/.html "
                                                      "(default: the run's results directory).",
                                                      show_default=False)] = None,
             seed: Seed = None, quiet: Quiet = False, debug: Debug = False) -> None:
    """Score the spec's generators out of sample ([evaluate] section) and write the fidelity scorecard; with
    an [evaluate.calibration] table, also the rolling-origin calibration (resumable: per-origin cache)."""
    with _errors(debug):
        from .report.scorecard import write_scorecard
        from .studies import calibrate_spec, evaluate_spec
        from .studies.fidelity import CALIBRATION_CACHE

        run_spec = _load(spec, seed=seed)
        out_dir = out if out is not None else run_spec.out_dir
        # one bar per generator (and the floors); each replicate is three steps: fit, sample, score
        with _bars(quiet) as progress:
            card = evaluate_spec(run_spec, progress=progress)
        calibration = None
        if run_spec.evaluate.calibration is not None:
            cache = run_spec.evaluate.calibration_cache or Path(out_dir) / CALIBRATION_CACHE
            with _bars(quiet) as progress:
                calibration = calibrate_spec(run_spec, progress=progress, cache_dir=cache)
        paths = write_scorecard(card, out_dir, calibration=calibration)
        console = Console(highlight=False, width=120)
        console.print(card.ranking().to_string())
        if calibration is not None:
            table = calibration.table().drop(columns=["subject", "measure"])
            console.print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
            typer.echo(f"calibration: {paths['calibration_csv'].absolute()}")
        typer.echo(f"scorecard: {paths['html'].absolute()}")


@app.command()
def anomalies(spec: SpecArg,
              top: Annotated[int, typer.Option("--top", help="How many windows to list.")] = 10,
              seed: Seed = None, debug: Debug = False) -> None:
    """List the most anomalous periods of the spec's data (the VAE's negative ELBO per window)."""
    with _errors(debug):
        from .studies import anomalies_spec

        run_spec = _load(spec, seed=seed)
        with _stderr().status("fitting the VAE and scoring windows"):
            frame = anomalies_spec(run_spec, top=top)
        # plain columns on stdout, so the list can be piped into other tools
        typer.echo(f"{'rank':>4}  {'start':10}  {'end':10}  {'-ELBO (nats)':>12}")
        for i, row in enumerate(frame.itertuples(index=False), 1):
            typer.echo(f"{i:>4}  {row.start.date()!s:10}  {row.end.date()!s:10}  {row.score:>12.1f}")


class Method(str, Enum):
    empirical = "empirical"
    optimised = "optimised"


@app.command()
def reverse(spec: SpecArg,
            strategy: Annotated[str, typer.Option("--strategy", help="Parameter set name, as in the report, e.g. "
                                                  "'ma_crossover[fast=5]'.", show_default=False)],
            loss: Annotated[float, typer.Option("--loss", help="Loss threshold in (0, 1], e.g. 0.25.",
                                                show_default=False)],
            horizon: Annotated[int | None, typer.Option("--horizon", help="Override [simulation].horizon.",
                                                        show_default=False)] = None,
            worlds: Worlds = None,
            method: Annotated[Method, typer.Option("--method", help="empirical (sampled worlds) or optimised "
                                                   "(most likely noise; garch only).")] = Method.empirical,
            tilt_z: Annotated[float | None, typer.Option("--tilt-z", help="Tilt toward losses in sd of the "
                                                         "horizon (garch; 0 = plain; default: automatic).",
                                                         show_default=False)] = None,
            top: Annotated[int, typer.Option("--top", help="How many most plausible worlds to report.")] = 5,
            out: Annotated[Path | None, typer.Option("--out", help="Directory of reverse.json and "
                                                     "reverse.safetensors (default: <results dir>/"
                                                     "reverse-<strategy>).", show_default=False)] = None,
            seed: Seed = None, quiet: Quiet = False, debug: Debug = False) -> None:
    """Reverse stress: the most plausible sampled worlds where a strategy loses at least --loss, the
    conditional mean path and what drove the loss (docs/reverse.md)."""
    with _errors(debug):
        import re

        from .studies.reverse import ReverseConfig, reverse_stress
        from .studies.reverse_io import write_reverse

        config = ReverseConfig(strategy=strategy, loss=loss, horizon=horizon, n_worlds=worlds, k=top,
                               tilt_z=tilt_z, method=method.value)  # a bad loss is refused before the spec loads
        run_spec = _load(spec, seed=seed)
        with _bars(quiet) as progress:
            result = reverse_stress(run_spec, config, progress=progress)
        target = out if out is not None else \
            run_spec.out_dir / ("reverse-" + re.sub(r"[^\w.,=\[\]-]", "_", strategy))
        path = write_reverse(result, target)
        p = result.probability
        typer.echo(f"{strategy}: P(loss >= {loss:.1%}) = {p.value:.3%} [{p.lo:.3%}, {p.hi:.3%}] "
                   f"({result.n_losing:,} of {result.config.n_worlds:,} worlds, Kish ESS {result.ess_kish:,.0f}"
                   f"{', tilted' if result.tilt else ''})")
        typer.echo(f"plausibility: {result.plausibility_method}")
        typer.echo(f"{'rank':>4}  {'world':>7}  {'loss':>7}  {'pctile':>6}  top drivers (P&L contribution)")
        for i, w in enumerate(result.most_plausible, 1):
            drivers = ", ".join(f"{a} {v:+.1%}" for a, v in w.contributions.top(3))
            typer.echo(f"{i:>4}  {w.world:>7}  {w.loss:>7.1%}  {w.percentile:>6.1f}  {drivers}")
        opt = result.optimised
        if opt is not None and opt.met.any():
            best = opt.best_loss()
            typer.echo(f"optimised: most likely path loses {best[0]:.1%}, noise log-likelihood {opt.log_lik[0]:.1f} "
                       f"(best of {opt.z.shape[0]} starts; {int(opt.met.sum())} met the loss)")
        elif opt is not None:
            sys.stderr.write("reverse: the optimised search met the loss from no start\n")
        for note in result.notes:
            sys.stderr.write(f"reverse: {note}\n")
        typer.echo(f"results: {path.absolute()}")


def main() -> None:
    """Console-script entry point (``stressgen = "stressgen.cli:main"``)."""
    app()


if __name__ == "__main__":
    main()
