"""Build the control plane's components from the Go module proxy, once, into a cache outside the checkout.

Each component is a Go module of the project's own under ``sandbox/kube/components/<name>/`` (go.mod
and go.sum committed, no upstream source): its ``tool`` lines name the programs, its ``require`` the
pinned upstream release. ``python -m sandbox.kube.build`` builds what is missing into
``$RUNBOOK_CHECKS_CACHE/bin/<name>-<version>-<digest>/`` (default ``~/.cache/runbook-checks``); a
directory is reused while its go.mod, go.sum and the Go version are unchanged.

``--regenerate NAME`` rewrites a component's go.mod from its pin: for Kubernetes, every staging
module its own go.mod requires at v0.0.0 is replaced by the published v0.X.Y of the same release
(read from the proxy-served go.mod, not typed by hand), then ``go mod tidy`` writes go.sum.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

__all__ = ["COMPONENTS", "Component", "BuildError", "binary", "bin_dir", "build", "ensure"]

HERE = pathlib.Path(__file__).resolve().parent / "components"
# kwok v0.8.0's go.mod asks for a newer Go than the machine's 1.26; the go command fetches this
# approved toolchain from the module proxy like any module.
GOTOOLCHAIN = "go1.27.3"


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    module: str
    version: str
    programs: tuple[str, ...]  # package paths of the main packages, in the pinned module
    ldflags: tuple[str, ...] = ()
    kubernetes_staging: bool = False  # replace the k8s.io staging modules at v0.0.0
    data: tuple[str, ...] = ()  # folders of the pinned module copied beside the binaries (kwok's Stages)

    @property
    def directory(self) -> pathlib.Path:
        return HERE / self.name

    def binaries(self) -> tuple[str, ...]:
        """The programs' file names, as ``go build -o DIR/`` names them (a major-version suffix
        such as ``/v3`` is skipped: go.etcd.io/etcd/server/v3 builds ``server``)."""
        names = []
        for program in self.programs:
            parts = program.split("/")
            names.append(parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1])
        return tuple(names)


def _kubernetes_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
            f"-X {package}.gitCommit=0000000000000000000000000000000000000000",
            f"-X {package}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


KUBERNETES = "v1.37.2"
COMPONENTS: dict[str, Component] = {
    component.name: component
    for component in (
        Component(
            "kubernetes",
            "k8s.io/kubernetes",
            KUBERNETES,
            (
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kube-controller-manager",
                "k8s.io/kubernetes/cmd/kube-scheduler",
            ),
            ldflags=_kubernetes_ldflags(KUBERNETES),
            kubernetes_staging=True,
        ),
        Component(
            "etcd",
            "go.etcd.io/etcd/server/v3",
            "v3.6.16",
            ("go.etcd.io/etcd/server/v3",),
            ldflags=("-X go.etcd.io/etcd/api/v3/version.GitSHA=runbook-checks",),
        ),
        Component(
            "kwok",
            "sigs.k8s.io/kwok",
            "v0.8.0",
            ("sigs.k8s.io/kwok/cmd/kwok",),
            data=("kustomize",),
        ),
        Component(
            "metrics-server",
            "sigs.k8s.io/metrics-server",
            "v0.8.0",
            ("sigs.k8s.io/metrics-server/cmd/metrics-server",),
            ldflags=("-X k8s.io/client-go/pkg/version.gitVersion=v0.8.0",),
        ),
        Component(
            "helm",
            "helm.sh/helm/v4",
            "v4.3.2",
            ("helm.sh/helm/v4/cmd/helm",),
            ldflags=("-X helm.sh/helm/v4/internal/version.version=v4.3.2",),
        ),
    )
}


class BuildError(RuntimeError):
    """A component that could not be built: which one and why, in one line."""


def cache_root() -> pathlib.Path:
    configured = os.environ.get("RUNBOOK_CHECKS_CACHE")
    return pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "runbook-checks"


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", GOTOOLCHAIN)
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _digest(component: Component) -> str:
    sha = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        path = component.directory / name
        sha.update(path.read_bytes() if path.exists() else b"")
    sha.update(_go_env()["GOTOOLCHAIN"].encode())
    sha.update(" ".join(component.ldflags + component.data).encode())
    return sha.hexdigest()[:10]


def bin_dir(component: Component) -> pathlib.Path:
    return cache_root() / "bin" / f"{component.name}-{component.version}-{_digest(component)}"


def binary(program: str) -> pathlib.Path | None:
    """The built binary of that name, or None when its component is not built yet."""
    for component in COMPONENTS.values():
        if program in component.binaries():
            path = bin_dir(component) / program
            return path if path.exists() else None
    raise KeyError(program)


def _run(component: Component, argv: list[str], *, cwd: pathlib.Path) -> None:
    completed = subprocess.run(argv, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if completed.returncode != 0:
        lines = [line for line in (completed.stderr or completed.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {completed.returncode}"
        raise BuildError(f"{component.name} {component.version}: {' '.join(argv[:2])} failed: {reason}")


def build(component: Component, *, log=print) -> pathlib.Path:
    """Build the component's programs into its cache directory (atomically) and return it."""
    target = bin_dir(component)
    if all((target / name).exists() for name in component.binaries() + component.data):
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.monotonic()
    log(f"building {component.name} {component.version} ({', '.join(component.binaries())}) into {target}")
    argv = ["go", "build", "-trimpath", "-ldflags", "-s -w " + " ".join(component.ldflags), "-o", str(staging) + "/"]
    _run(component, argv + list(component.programs), cwd=component.directory)
    if component.data:
        source = _module_dir(component)
        for folder in component.data:
            shutil.copytree(source / folder, staging / folder)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    seconds = time.monotonic() - started
    log(f"built {component.name} in {seconds:.0f} s")
    with open(cache_root() / "build-times.log", "a", encoding="utf-8") as record:  # bench/controlplane.py reads it
        record.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {component.name} {component.version} "
                     f"{seconds:.0f} s on {os.cpu_count()} cores\n")
    return target


def _module_dir(component: Component) -> pathlib.Path:
    completed = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", component.module], cwd=component.directory,
                               env=_go_env(), capture_output=True, text=True)
    if completed.returncode != 0 or not completed.stdout.strip():
        raise BuildError(f"{component.name}: go list -m {component.module} failed: {completed.stderr.strip()}")
    return pathlib.Path(completed.stdout.strip())


def ensure(names: list[str] | None = None, *, log=print) -> dict[str, pathlib.Path]:
    """Every named component (all by default) built; raises BuildError naming the first failure."""
    return {name: build(COMPONENTS[name], log=log) for name in (names or list(COMPONENTS))}


def _served_gomod(module: str, version: str) -> str:
    completed = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"], env=_go_env(), capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise BuildError(f"{module}@{version}: go mod download failed: {completed.stderr.strip()}")
    import json

    return pathlib.Path(json.loads(completed.stdout)["GoMod"]).read_text()


def regenerate(component: Component) -> None:
    """Write the component's go.mod from its pin and let ``go mod tidy`` write go.sum."""
    upstream = _served_gomod(component.module, component.version)
    go_line = re.search(r"^go (\S+)$", upstream, re.M)
    godebug = re.search(r"^godebug .*$", upstream, re.M)
    lines = [
        f"// Generated by python -m sandbox.kube.build --regenerate {component.name}: do not edit by hand.",
        f"module runbook-checks/sandbox/kube/components/{component.name}",
        "",
        f"go {go_line.group(1) if go_line else '1.26.0'}",
    ]
    if godebug:
        lines += ["", godebug.group(0)]
    lines += ["", "tool ("] + [f"\t{program}" for program in component.programs] + [")", ""]
    lines += [f"require {component.module} {component.version}", ""]
    if component.kubernetes_staging:
        staging = sorted(set(re.findall(r"^\s+(k8s\.io/[\w.-]+) v0\.0\.0$", upstream, re.M)))
        release = "v0." + component.version.lstrip("v").split(".", 1)[1]
        lines += ["replace ("] + [f"\t{module} => {module} {release}" for module in staging] + [")", ""]
    component.directory.mkdir(parents=True, exist_ok=True)
    (component.directory / "go.mod").write_text("\n".join(lines))
    (component.directory / "go.sum").unlink(missing_ok=True)
    _run(component, ["go", "mod", "tidy"], cwd=component.directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kube.build", description=__doc__.split("\n\n")[0])
    parser.add_argument("components", nargs="*", help=f"of {', '.join(COMPONENTS)} (default: all)")
    parser.add_argument("--regenerate", action="store_true", help="rewrite go.mod and go.sum from the pins first")
    parser.add_argument("--print-dir", action="store_true", help="print each component's cache directory")
    parser.add_argument("--link", type=pathlib.Path, metavar="DIR",
                        help="also symlink the components' programs into DIR (make: helm into .venv/bin, "
                             "so that a printed helm command runs as printed)")
    args = parser.parse_args(argv)
    names = args.components or list(COMPONENTS)
    unknown = [name for name in names if name not in COMPONENTS]
    if unknown:
        parser.error(f"unknown component {unknown[0]!r}: one of {', '.join(COMPONENTS)}")
    try:
        for name in names:
            component = COMPONENTS[name]
            if args.regenerate:
                print(f"regenerating {component.directory}/go.mod", flush=True)
                regenerate(component)
            if args.print_dir:
                print(bin_dir(component))
            else:
                target = build(component, log=lambda line: print(line, flush=True))
                if args.link is not None:
                    for program in component.binaries():
                        link = args.link / program
                        link.unlink(missing_ok=True)
                        link.symlink_to(target / program)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
