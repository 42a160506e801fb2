"""The JVM side of the ScienceWorld env: start `scienceworld.jar` with our own JVM options and talk to its
`PythonInterface` directly (the package's `ScienceWorldEnv` launches the JVM without options, so the heap
cannot be capped there, and its `step()` also fetches the ~1000 valid actions, look and inventory every step).

JVM options we always pass:
- `-Xmx<heap>`: cap the heap (the JVM default is 1/4 of the machine's RAM);
- `-XX:hashCode=2` (experimental flag): every object's identity hash code is the constant 1. ScienceWorld keeps
  world objects in hash sets keyed by identity, so with the JVM's default (random) identity hashes the order of
  the things listed in "look around", and even which flower a bee visits, change from run to run. With a
  constant hash the iteration order is the insertion order, which makes episodes reproducible byte for byte.
  The sets are small, so the collisions cost nothing noticeable.
- `-XX:+UseSerialGC`: one GC thread, smaller footprint (the machine has 2 cores).
"""

from __future__ import annotations

import contextlib
import subprocess

from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway

JVM_FLAGS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2", "-XX:+UseSerialGC")


class SciWorldJVM:
    """One ScienceWorld JVM and its `PythonInterface` object (`self.server`)."""

    def __init__(self, heap: str | None = "512m"):
        from scienceworld.constants import BASEPATH, JAR_PATH  # heavy-ish import only when an env is built

        opts = list(JVM_FLAGS)
        if heap:
            opts.insert(0, f"-Xmx{heap}")
        port, proc = launch_gateway(classpath=JAR_PATH, javaopts=opts, die_on_exit=True, cwd=BASEPATH,
                                    return_proc=True)
        self.proc: subprocess.Popen | None = proc
        self.gateway: JavaGateway | None = JavaGateway(
            gateway_parameters=GatewayParameters(auto_field=True, port=port), java_process=proc)
        self.server = self.gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def peak_rss_mb(self) -> float | None:
        """Peak resident set size of the java process (VmHWM), in MB; None if it is gone."""
        if not self.alive():
            return None
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def close(self) -> None:
        """Shut the gateway down and make sure the java process has exited. Safe to call twice."""
        gateway, proc = self.gateway, self.proc
        self.gateway, self.proc, self.server = None, None, None
        if gateway is not None:
            with contextlib.suppress(Exception):
                gateway.shutdown()
        if proc is not None:
            if proc.poll() is None:  # die_on_exit: the JVM exits when its stdin says so
                with contextlib.suppress(Exception):
                    proc.stdin.write(b"\n")
                    proc.stdin.flush()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        stream.close()
