"""Real Apache Kafka (3.9.1, KRaft) for Vigie tests.

Plain module (no pytest import).  Typical conftest use (put ``tests/`` on
``sys.path`` first, or import it as ``tests.kafka_broker`` with rootdir imports)::

    from kafka_broker import KafkaCluster, create_topic

    @pytest.fixture(scope="session")
    def kafka():
        cluster = KafkaCluster.start()          # reuses $VIGIE_KAFKA_BOOTSTRAP if set
        yield cluster
        cluster.stop()

    def test_x(kafka):
        topic = kafka.unique_topic("frames")
        create_topic(kafka.bootstrap, topic, partitions=3)

The heavy lifting is done by ``scripts/kafka/{fetch,start,stop}.sh`` so that
CI, local shells and tests share one implementation.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = REPO_ROOT / "scripts" / "kafka"
KAFKA_VERSION = "3.9.1"
DEFAULT_HOME = Path.home() / ".cache" / "vigie" / f"kafka-{KAFKA_VERSION}"

# Class names of the perf tools in the kafka-tools 3.9.1 jar.
PRODUCER_PERF = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_PERF = "org.apache.kafka.tools.ConsumerPerformance"

_fetch_lock = threading.Lock()


class KafkaError(RuntimeError):
    pass


def kafka_home() -> Path:
    return Path(os.environ.get("VIGIE_KAFKA_HOME") or DEFAULT_HOME)


def fetch(timeout: float = 600) -> Path:
    """Make sure the Kafka jars are present (idempotent); return KAFKA_HOME."""
    with _fetch_lock:
        res = subprocess.run(
            ["bash", str(SCRIPTS / "fetch.sh")],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if res.returncode != 0:
        raise KafkaError(f"scripts/kafka/fetch.sh failed:\n{res.stderr[-4000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_free_base_port(count: int, lo: int = 20000, hi: int = 60000) -> int:
    """A base port P such that P..P+count-1 are currently free on 127.0.0.1."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(lo, hi - count)
        if all(_port_free(base + k) for k in range(count)):
            return base
    raise KafkaError("could not find free ports")


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _pid_is_broker(pid: int, run_dir: Path) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return "kafka.Kafka" in cmd and f"{run_dir}/" in cmd


class KafkaCluster:
    """A Kafka cluster for tests: either external (env) or owned (started here)."""

    def __init__(
        self,
        bootstrap: str,
        home: Path,
        run_dir: Path | None = None,
        brokers: int = 1,
        base_port: int | None = None,
    ):
        self.bootstrap = bootstrap
        self.home = Path(home)
        self.run_dir = run_dir  # None => external cluster, not ours to stop
        self.brokers = brokers
        self.base_port = base_port
        self._procs: list[subprocess.Popen[bytes]] = []  # brokers relaunched by restart_broker
        if run_dir is not None:
            atexit.register(self.stop)  # never leak JVMs if a test session dies

    # ------------------------------------------------------------------ start
    @classmethod
    def start(
        cls,
        brokers: int = 1,
        base_port: int | None = None,
        timeout: float = 120,
        reuse_env: bool = True,
    ) -> KafkaCluster:
        """Return a ready cluster.

        With ``brokers == 1`` and ``$VIGIE_KAFKA_BOOTSTRAP`` set (and no explicit
        ``base_port``, ``reuse_env`` true), the already-running broker is reused
        (``stop()`` is then a no-op and kill/restart raise).  Otherwise the
        scripts fetch the jars and start ``brokers`` combined KRaft nodes on free
        ports (brokers on P..P+N-1, controllers on P+N..P+2N-1).
        """
        env_bs = os.environ.get("VIGIE_KAFKA_BOOTSTRAP")
        if brokers == 1 and env_bs and base_port is None and reuse_env:
            return cls(env_bs, kafka_home(), None, 1, None)  # jars fetched lazily

        home = fetch()
        attempts = 1 if base_port is not None else 3
        last_err = ""
        for _ in range(attempts):
            port = base_port if base_port is not None else find_free_base_port(2 * brokers)
            cmd = [
                "bash",
                str(SCRIPTS / "start.sh"),
                "--brokers",
                str(brokers),
                "--base-port",
                str(port),
            ]
            env = dict(os.environ)
            env.setdefault("VIGIE_PYTHON", sys.executable)
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            out = dict(_parse_exports(res.stdout))
            if res.returncode == 0 and "VIGIE_KAFKA_BOOTSTRAP" in out:
                return cls(
                    out["VIGIE_KAFKA_BOOTSTRAP"], home, Path(out["VIGIE_KAFKA_DIR"]), brokers, port
                )
            last_err = res.stderr[-6000:]
            # A port taken between choosing and binding, or a broker that died while starting
            # on this busy machine: try again on fresh ports.
        raise KafkaError(f"scripts/kafka/start.sh failed:\n{last_err}")

    # ------------------------------------------------------------ properties
    @property
    def owned(self) -> bool:
        return self.run_dir is not None

    @property
    def classpath(self) -> str:
        return str(self.home / "libs" / "*")

    def broker_port(self, i: int) -> int:
        self._require_owned()
        assert self.base_port is not None
        return self.base_port + i

    def broker_bootstrap(self, i: int) -> str:
        return f"127.0.0.1:{self.broker_port(i)}"

    def broker_pid(self, i: int) -> int | None:
        self._require_owned()
        f = self._dir / f"broker-{i}" / "pid"
        try:
            pid = int(f.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_is_broker(pid, self._dir) else None

    def broker_log(self, i: int) -> Path:
        self._require_owned()
        return self._dir / f"broker-{i}" / "server.log"

    # ---------------------------------------------------------------- control
    def stop(self, grace: float = 10) -> None:
        """Stop owned brokers (SIGTERM, SIGKILL after ``grace`` s) and delete the dir.

        No-op for an external (env-provided) cluster.
        """
        if not self.owned:
            return
        res = subprocess.run(
            [
                "bash",
                str(SCRIPTS / "stop.sh"),
                "--dir",
                str(self.run_dir),
                "--grace",
                str(int(grace)),
            ],
            capture_output=True,
            text=True,
            timeout=grace + 30,
        )
        self.run_dir = None
        for proc in self._procs:  # reap relaunched brokers (stop.sh signalled them)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()
        if res.returncode != 0:
            raise KafkaError(f"scripts/kafka/stop.sh failed:\n{res.stderr[-4000:]}")

    def kill_broker(self, i: int, sig: int = signal.SIGKILL) -> None:
        """SIGKILL (by default) broker ``i`` and wait until it is gone."""
        pid = self.broker_pid(i)
        if pid is None:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _pid_is_broker(pid, self._dir):
            time.sleep(0.05)

    def restart_broker(self, i: int, timeout: float = 60) -> None:
        """(Re)start broker ``i`` with its original config and data; waits for its port
        and until the cluster reports all brokers again."""
        self._require_owned()
        if self.broker_pid(i) is not None:
            self.kill_broker(i)
        bd = self._dir / f"broker-{i}"
        proc = subprocess.Popen(
            ["bash", str(bd / "launch.sh")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        (bd / "pid").write_text(f"{proc.pid}\n")
        pids = [
            (self._dir / f"broker-{k}" / "pid").read_text().strip() for k in range(self.brokers)
        ]
        (self._dir / "pids").write_text("\n".join(pids) + "\n")
        if not _wait_port(self.broker_port(i), timeout):
            state = "running" if proc.poll() is None else f"exited with {proc.returncode}"
            tail = "\n".join(_tail(bd / "server.log", 30) + _tail(bd / "stdout.log", 10))
            raise KafkaError(f"broker {i} did not reopen its port in {timeout:g} s (its JVM "
                             f"{state}); {bd}/server.log ends:\n{tail}")
        self.wait_ready(timeout=timeout)

    def wait_ready(self, brokers: int | None = None, timeout: float = 60) -> None:
        """Wait until a metadata request lists ``brokers`` (default: all) brokers."""
        from confluent_kafka.admin import AdminClient

        want = self.brokers if brokers is None else brokers
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=3)
                seen = len(md.brokers)
                if seen >= want:
                    return
            except Exception:
                pass
            time.sleep(0.3)
        raise KafkaError(f"cluster at {self.bootstrap} lists {seen} brokers, want {want}")

    # ------------------------------------------------------------------ tools
    def run_java_tool(
        self,
        main_class: str,
        args: Sequence[str],
        timeout: float = 300,
        heap: str = "-Xmx512m",
        check: bool = False,
        jvm_opts: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        """Run a Java main class with the Kafka jars, e.g. ``PRODUCER_PERF``.

        Tool logging (reload4j) goes to stderr at WARN so stdout stays parseable.
        """
        if not (self.home / "libs" / f"kafka-tools-{KAFKA_VERSION}.jar").exists():
            self.home = fetch()
        cmd = [
            "java",
            heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{_tools_log4j(self.home)}",
            *jvm_opts,
            "-cp",
            self.classpath,
            main_class,
            *map(str, args),
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)

    @staticmethod
    def unique_topic(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    @property
    def _dir(self) -> Path:
        self._require_owned()
        assert self.run_dir is not None
        return self.run_dir

    def _require_owned(self) -> None:
        if not self.owned:
            raise KafkaError(
                "operation needs a cluster started by KafkaCluster.start() "
                "(this one is external via VIGIE_KAFKA_BOOTSTRAP)"
            )

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        kind = f"owned dir={self.run_dir}" if self.owned else "external"
        return f"KafkaCluster(bootstrap={self.bootstrap!r}, brokers={self.brokers}, {kind})"


def _parse_exports(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export ") :].split("=", 1)
            yield k.strip(), v.strip()


def _tools_log4j(home: Path) -> Path:
    f = home / "tools-log4j.properties"
    content = (
        "log4j.rootLogger=WARN, stderr\n"
        "log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stderr.Target=System.err\n"
        "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
    if not f.exists() or f.read_text() != content:
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(content)
        os.replace(tmp, f)
    return f


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 3,
    rf: int = 1,
    config: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> None:
    """Create ``name`` and wait until every partition has a leader (and full ISR)
    visible in metadata.  Existing topic => ``KafkaError``."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined,unused-ignore]

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    fut = admin.create_topics(
        [
            NewTopic(
                name, num_partitions=partitions, replication_factor=rf, config=dict(config or {})
            )
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )[name]
    try:
        fut.result(timeout=timeout)
    except Exception as e:
        raise KafkaError(f"create_topic({name!r}) failed: {e}") from e

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            md = admin.list_topics(topic=name, timeout=5)
            t = md.topics.get(name)
            if (
                t is not None
                and t.error is None
                and len(t.partitions) == partitions
                and all(
                    p.leader >= 0 and p.error is None and len(p.isrs) >= rf
                    for p in t.partitions.values()
                )
            ):
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise KafkaError(f"topic {name!r} not ready within {timeout}s")


def delete_topic(bootstrap: str, name: str, timeout: float = 30) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    admin.delete_topics([name], operation_timeout=timeout)[name].result(timeout=timeout)


def committed_to_end(bootstrap: str, group: str, topic: str, partition: int) -> tuple[int, int]:
    """(offset `group` committed, end offset) of one partition of `topic`."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        return int(tp.offset), int(high)
    finally:
        consumer.close()
