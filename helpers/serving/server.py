"""`python -m helpers.serving.server`: the local stand-in for `tensorflow_model_server`.

It takes the flags of the serving Deployment's container, so the local backend runs the
manifest's args unchanged, answers TensorFlow Serving's REST API on loopback from uvicorn's event
loop, and keeps the newest good version under --model_base_path serving. It has no gRPC endpoint.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import pathlib
import socket
import sys

import tensorflow as tf
import uvicorn

from helpers import errors
from helpers.serving import api, batching, metrics, versions

logger = logging.getLogger(__name__)

# Largest request body accepted with a JSON 413 beyond it: ~2,000 MNIST images as JSON floats.
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
# TF Serving's default for --rest_api_num_threads is 4 per CPU; threads past 16 only add GIL
# contention in a Python server.
DEFAULT_THREADS = min(16, 4 * (os.cpu_count() or 1))
# Seconds requests in flight get to finish after SIGTERM; within the 30 s a pod is given to stop.
GRACEFUL_SHUTDOWN_S = 5
# Seconds an idle keep-alive connection stays open: waitress's channel_timeout, which this server
# had before, so a client that reuses its connection after a pause (the web UI) finds it open.
KEEP_ALIVE_S = 120
# Connections the kernel queues before they are accepted (uvicorn's default).
BACKLOG = 2048


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse tensorflow_model_server's flags (the subset the serving manifest uses, plus a bind host)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.serving.server", description=__doc__, allow_abbrev=False)
    parser.add_argument("--port", type=int, default=8500, help="gRPC port: accepted, but only REST is served")
    parser.add_argument("--rest_api_port", type=int, default=8501, help="REST API port")
    parser.add_argument("--rest_api_host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--model_name", default="default", help="name of the model in request URLs")
    parser.add_argument("--model_base_path", required=True, help="folder whose numeric subfolders are versions")
    parser.add_argument("--monitoring_config_file", default="", help="text proto with prometheus_config { ... }")
    parser.add_argument(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between scans for new versions; 0 scans once at start",
    )
    parser.add_argument("--rest_api_timeout_in_ms", type=int, default=30000, help="predict deadline (504 past it)")
    parser.add_argument(
        "--rest_api_num_threads",
        type=int,
        default=DEFAULT_THREADS,
        help="threads running the predicts not batched (and parsing large bodies); HTTP runs on one event loop",
    )
    parser.add_argument(
        "--tensorflow_intra_op_parallelism", type=int, default=0, help="threads per op; 0: TensorFlow picks"
    )
    parser.add_argument(
        "--tensorflow_inter_op_parallelism", type=int, default=0, help="ops run at once; 0: TensorFlow picks"
    )
    parser.add_argument(
        "--rest_api_max_body_bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="413 for larger bodies"
    )
    parser.add_argument(
        "--enable_batching",
        type=_boolean,
        nargs="?",
        const=True,
        default=False,
        help="run concurrent predicts in batches (TF Serving's flag; --enable_batching or =true/false)",
    )
    parser.add_argument(
        "--batching_parameters_file",
        default="",
        help="text proto with max_batch_size, batch_timeout_micros, ... (used with --enable_batching)",
    )
    return parser.parse_args(argv)


def _boolean(text: str) -> bool:
    """A gflags boolean value, as tensorflow_model_server takes it."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _check(args: argparse.Namespace) -> pathlib.Path:
    """The model base path; raises ConfigError for flag values the local server cannot honour."""
    if "://" in args.model_base_path:
        raise errors.ConfigError(
            "model_base_path",
            args.model_base_path,
            "must be a local folder (tensorflow/serving >= 2.7 cannot read s3:// either; sync it first)",
        )
    if not 0 < args.rest_api_port < 65536:
        raise errors.ConfigError("rest_api_port", args.rest_api_port, "must be a port 1-65535: only REST is served")
    checks = [
        ("file_system_poll_wait_seconds", args.file_system_poll_wait_seconds, 0),
        ("rest_api_timeout_in_ms", args.rest_api_timeout_in_ms, 1),
        ("rest_api_num_threads", args.rest_api_num_threads, 1),
        ("rest_api_max_body_bytes", args.rest_api_max_body_bytes, 1),
        ("tensorflow_intra_op_parallelism", args.tensorflow_intra_op_parallelism, 0),
        ("tensorflow_inter_op_parallelism", args.tensorflow_inter_op_parallelism, 0),
    ]
    for name, value, minimum in checks:
        if value < minimum:
            raise errors.ConfigError(name, value, f"must be at least {minimum}")
    return pathlib.Path(args.model_base_path)


def _batcher(args: argparse.Namespace) -> batching.Batcher | None:
    """The batcher --enable_batching asks for, or None; raises ConfigError for a bad parameters file."""
    if args.batching_parameters_file and not args.enable_batching:
        # TF Serving ignores the file then too; say so rather than let a reader think it applies.
        logger.warning("--batching_parameters_file is ignored without --enable_batching")
    if not args.enable_batching:
        return None
    parameters = (
        batching.read_batching_parameters(pathlib.Path(args.batching_parameters_file))
        if args.batching_parameters_file
        else batching.BatchingParameters()
    )
    return batching.Batcher(parameters)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; raises OSError when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def _uvicorn_config(app: api.App) -> uvicorn.Config:
    """uvicorn on uvloop with httptools' parser, quiet, and with our own Server header."""
    return uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the exit code (2 for bad flags, 1 if it cannot bind,
    130 after SIGINT; SIGTERM ends the process as its default action does)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        base_path = _check(args)
        monitoring = (
            metrics.read_monitoring_config(pathlib.Path(args.monitoring_config_file))
            if args.monitoring_config_file
            else metrics.MonitoringConfig()
        )
        batcher = _batcher(args)
    except errors.ConfigError as e:
        logger.error("%s", e)
        return 2
    logger.info("gRPC --port=%d accepted but not served: the local server speaks REST only", args.port)
    # Must happen before the first model loads; small models answer one image fastest with 1 thread.
    tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    manager = versions.VersionManager(model_name=args.model_name, base_path=base_path)
    manager.poll()
    if args.file_system_poll_wait_seconds > 0:
        manager.start(interval_s=args.file_system_poll_wait_seconds)
    executor = concurrent.futures.ThreadPoolExecutor(args.rest_api_num_threads, thread_name_prefix="rest")
    app = api.create_app(
        manager=manager,
        monitoring=monitoring,
        max_body_bytes=args.rest_api_max_body_bytes,
        timeout_s=args.rest_api_timeout_in_ms / 1000,
        executor=executor,
        batcher=batcher,
    )
    if batcher is not None:
        batcher.start()
        logger.info("batching predicts: %s", batcher.parameters)
    if monitoring.enable:
        logger.info("Prometheus metrics on %s", monitoring.path)
    try:
        with _bind(args.rest_api_host, args.rest_api_port) as listener:
            logger.info("answering REST on http://%s:%d", args.rest_api_host, args.rest_api_port)
            # uvicorn stops on SIGINT or SIGTERM, then raises the signal again for its default action.
            uvicorn.Server(_uvicorn_config(app)).run(sockets=[listener])
    except OSError as e:
        logger.error("cannot serve on %s:%d: %s", args.rest_api_host, args.rest_api_port, e)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        manager.stop()
        if batcher is not None:
            batcher.stop()
        executor.shutdown(cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
