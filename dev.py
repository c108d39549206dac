#!/usr/bin/env python3
"""Developer entry point for alpaca-slack-oms (standard library only).

    python3 dev.py up [ARGS...]     bootstrap, then run `oms up ARGS...` (the product)
    python3 dev.py test [ARGS...]   bootstrap, then run `python -m pytest ARGS...`
    python3 dev.py sync [--clean]   bootstrap only (--clean: recreate .venv from scratch)
    python3 dev.py lint [PATHS...]  ruff check + ruff format --check
    python3 dev.py fmt [PATHS...]   ruff format + ruff check --fix
    python3 dev.py oms [ARGS...]    bootstrap, then run the `oms` console script
    python3 dev.py lock [UV ARGS]   regenerate requirements.lock and requirements-dev.lock
                                    (e.g. `--upgrade` or `--upgrade-package fastapi`)

Bootstrap = create .venv (python -m venv), install requirements-dev.lock with
--require-hashes, then install this project editable (--no-deps). A stamp file in
.venv records what was installed, so an unchanged checkout skips straight to the
command. Every command runs from the repository root.
"""

import sys

# This file must stay parseable by Python 3.6+ (no `from __future__ import annotations`,
# which 3.6 rejects), so that old interpreters get this one-line refusal, not a traceback.
if sys.version_info < (3, 11):  # noqa: UP036
    sys.exit(f"dev.py: Python 3.11+ is required, not {sys.version.split()[0]} ({sys.executable})")

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK_RUNTIME = ROOT / "requirements.lock"
LOCK_DEV = ROOT / "requirements-dev.lock"

VENV = ROOT / ".venv"
STAMP = VENV / ".dev-stamp.json"
PIP_LOG = VENV / "dev-pip.log"

TOOLS = ROOT / ".tools"
UV_VERSION = "0.13.9"  # pinned so that `dev.py lock` output does not drift with uv releases
LOCK_PYTHON = "3.11"  # oldest supported Python (requires-python); the locks are universal

STAMP_SCHEMA = 1
IS_WINDOWS = os.name == "nt"

# Anything that would leak a package index / host into a lock file.
URL_PATTERN = re.compile(
    r"://|--(?:extra-)?index-url|--find-links|--trusted-host|pythonhosted|pypi\.org",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"dev.py: {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 1) -> None:
    log(f"error: {msg}")
    sys.exit(code)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def bin_dir(venv: Path) -> Path:
    return venv / ("Scripts" if IS_WINDOWS else "bin")


def venv_exe(venv: Path, name: str) -> Path:
    return bin_dir(venv) / (f"{name}.exe" if IS_WINDOWS else name)


def run(cmd: list[str], *, env: dict[str, str] | None = None, log_to: Path | None = None) -> int:
    """Run cmd from ROOT; with log_to, append its output there instead of the terminal."""
    try:
        if log_to is None:
            return subprocess.call(cmd, cwd=ROOT, env=env)
        with log_to.open("a", encoding="utf-8") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n")
            fh.flush()
            return subprocess.call(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
    except OSError as exc:
        die(f"could not run {cmd[0]}: {exc}")
    return 1  # unreachable


def show_log_tail(path: Path, lines: int = 40) -> None:
    try:
        tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print("\n".join(f"    {line}" for line in tail), file=sys.stderr, flush=True)


def exec_in_venv(program: Path, args: list[str]) -> None:
    """Replace this process with program (from .venv), running from the repo root."""
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = os.pathsep.join([str(bin_dir(VENV)), env.get("PATH", "")])
    env.pop("PYTHONHOME", None)
    os.chdir(ROOT)
    argv = [str(program), *args]
    if IS_WINDOWS:  # os.exec* does not really replace the process on Windows
        sys.exit(subprocess.call(argv, env=env))
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        die(f"could not run {rel(program)}: {exc}")


# --------------------------------------------------------------------------- bootstrap


def project_packages() -> list[str]:
    """Top-level packages that pyproject's package discovery would pick up right now.

    setuptools' editable install records the top-level packages that exist at install
    time, so a package that appears later needs a re-install: it is part of the stamp.
    """
    try:
        data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    find = data.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    patterns = find.get("include", ["*"])
    found = []
    for child in sorted(ROOT.iterdir()):
        if (child / "__init__.py").is_file() and any(
            fnmatch.fnmatchcase(child.name, p) for p in patterns
        ):
            found.append(child.name)
    return found


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_lock_covers_pyproject() -> None:
    """Fail early when pyproject.toml names a dependency that requirements-dev.lock lacks.

    The project is installed with --no-deps, so such a dependency would otherwise be
    silently missing. (Only names are compared; versions are uv's job.)
    """
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("project", {})
    declared = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    names = {
        normalize(m[1]) for m in (re.match(r"\s*([A-Za-z0-9][\w.-]*)", d) for d in declared) if m
    }
    locked = {normalize(line.split("==")[0]) for line in requirement_lines(LOCK_DEV)}
    missing = sorted(names - locked - {normalize(project.get("name", ""))})
    if missing:
        die(
            f"{rel(LOCK_DEV)} is out of date with pyproject.toml (missing: {', '.join(missing)}); "
            "run `python3 dev.py lock`"
        )


def this_python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def wanted_stamp() -> dict[str, object]:
    digest = hashlib.sha256()
    for path in (LOCK_DEV, PYPROJECT):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return {
        "schema": STAMP_SCHEMA,
        "python": this_python(),
        "inputs": digest.hexdigest(),
        "packages": project_packages(),
    }


def read_stamp() -> dict[str, object] | None:
    try:
        return json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def venv_python() -> str | None:
    """major.minor of the Python that .venv was made with, from pyvenv.cfg (None: no venv)."""
    try:
        text = (VENV / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^\s*version(?:_info)?\s*=\s*(\d+)\.(\d+)", text, re.MULTILINE)
    return f"{match[1]}.{match[2]}" if match else None


def venv_usable() -> bool:
    """.venv exists, is complete enough to run, and uses this interpreter's major.minor."""
    return venv_exe(VENV, "python").exists() and venv_python() == this_python()


def create_venv(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    log(f"creating {rel(venv)} with Python {sys.version.split()[0]} ({sys.executable})")
    code = subprocess.call([sys.executable, "-m", "venv", str(venv)], cwd=ROOT)
    if code != 0 or not venv_exe(venv, "python").exists():
        die(
            f"`{sys.executable} -m venv {rel(venv)}` failed (exit {code}); on Debian/Ubuntu "
            "install the venv module first: apt-get install python3-venv"
        )


def pypi_only_env() -> dict[str, str]:
    """Environment for a pip that sees only its default index (PyPI, like a fresh machine).

    The locks are resolved against PyPI and pin the hashes of PyPI's files. A machine's
    pip configuration may add extra sources (this one has find-links=/opt/wheels and
    file:// extra indexes). pip prefers a file whose hash it can confirm, but a source
    that alone offers a same-version file (a local rebuild, a find-links folder used with
    no-index, ...) makes --require-hashes fail on a hash the lock does not list. So we
    first honour the machine's configuration (mirrors can be faster or required), and
    only on such a hash mismatch retry with every pip config file and source variable
    dropped. PIP_CERT and the rest of the environment are kept.
    """
    env = dict(os.environ)
    for key in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"):
        env.pop(key, None)
    env["PIP_CONFIG_FILE"] = os.devnull  # pip then reads no config file at all
    return env


def pip_install(args: list[str], what: str) -> None:
    pip = [str(venv_exe(VENV, "python")), "-m", "pip", "install"]
    pip += ["--disable-pip-version-check", "--no-input", *args]
    start = PIP_LOG.stat().st_size if PIP_LOG.exists() else 0
    if run(pip, log_to=PIP_LOG) == 0:
        return
    output = PIP_LOG.read_text(encoding="utf-8", errors="replace")[start:]
    if "DO NOT MATCH THE HASHES" in output:
        log(f"{what}: hash mismatch with the configured package sources; retrying with PyPI only")
        if run(pip, env=pypi_only_env(), log_to=PIP_LOG) == 0:
            return
    show_log_tail(PIP_LOG)
    die(f"{what} failed (full log: {rel(PIP_LOG)})")


def bootstrap(clean: bool = False) -> None:
    for path in (PYPROJECT, LOCK_DEV):
        if not path.is_file():
            hint = "; run `python3 dev.py lock`" if path == LOCK_DEV else ""
            die(f"{rel(path)} is missing{hint}")
    want = wanted_stamp()
    have = read_stamp()
    usable = venv_usable()
    if usable and not clean and have == want:
        return
    try:
        check_lock_covers_pyproject()
    except tomllib.TOMLDecodeError as exc:
        die(f"pyproject.toml is not valid TOML: {exc}")
    started = time.monotonic()
    if clean or not usable:
        made_with = venv_python()
        if made_with and made_with != this_python():
            log(f".venv was made with Python {made_with}; recreating it for {this_python()}")
        create_venv(VENV)
    STAMP.unlink(missing_ok=True)  # an interrupted install must not look complete
    PIP_LOG.write_text("", encoding="utf-8")

    count = sum(1 for line in LOCK_DEV.read_text().splitlines() if re.match(r"[A-Za-z0-9]", line))
    log(f"installing {count} hash-pinned requirements from {rel(LOCK_DEV)}")
    pip_install(["--require-hashes", "-r", str(LOCK_DEV)], "installing locked requirements")
    log("installing the project (editable, --no-deps)")
    pip_install(["--no-deps", "-e", str(ROOT)], "editable install of the project")

    STAMP.write_text(json.dumps(want, indent=2) + "\n", encoding="utf-8")
    log(f".venv ready ({time.monotonic() - started:.1f}s)")


# --------------------------------------------------------------------------- commands


def cmd_sync(args: list[str]) -> None:
    unknown = [a for a in args if a != "--clean"]
    if unknown:
        die(f"sync: unexpected arguments {unknown} (only --clean is accepted)", 2)
    clean = "--clean" in args
    before = read_stamp() if venv_usable() else None
    bootstrap(clean=clean)
    if not clean and before == read_stamp():
        log(".venv is up to date")


def cmd_test(args: list[str]) -> None:
    bootstrap()
    exec_in_venv(venv_exe(VENV, "python"), ["-m", "pytest", *args])


def console_script(name: str) -> Path:
    path = venv_exe(VENV, name)
    if not path.exists():
        die(
            f"{rel(path)} does not exist; is `{name}` declared in [project.scripts] "
            "of pyproject.toml? (try `python3 dev.py sync --clean`)"
        )
    return path


def cmd_up(args: list[str]) -> None:
    bootstrap()
    exec_in_venv(console_script("oms"), ["up", *args])


def cmd_oms(args: list[str]) -> None:
    bootstrap()
    exec_in_venv(console_script("oms"), args)


def ruff(*args: str) -> int:
    return run([str(venv_exe(VENV, "python")), "-m", "ruff", *args])


def cmd_lint(args: list[str]) -> None:
    bootstrap()
    paths = args or ["."]
    log("ruff check")
    check = ruff("check", *paths)
    log("ruff format --check")
    fmt = ruff("format", "--check", *paths)
    if check or fmt:
        die("lint failed (`python3 dev.py fmt` fixes formatting and the auto-fixable checks)")
    log("lint ok")


def cmd_fmt(args: list[str]) -> None:
    bootstrap()
    paths = args or ["."]
    fmt = ruff("format", *paths)
    check = ruff("check", "--fix", *paths)
    sys.exit(1 if fmt or check else 0)


def ensure_uv() -> Path:
    """uv in a throwaway venv under .tools/ (git-ignored), installed on demand."""
    venv = TOOLS / "uv"
    uv = venv_exe(venv, "uv")
    marker = venv / ".uv-version"
    if uv.exists() and marker.is_file() and marker.read_text().strip() == UV_VERSION:
        return uv
    create_venv(venv)
    log(f"installing uv=={UV_VERSION} into {rel(venv)}")
    pip = [str(venv_exe(venv, "python")), "-m", "pip", "install", "--disable-pip-version-check"]
    if run([*pip, "--quiet", "--no-input", f"uv=={UV_VERSION}"]) != 0 or not uv.exists():
        die(f"could not install uv=={UV_VERSION} into {rel(venv)}")
    marker.write_text(UV_VERSION + "\n")
    return uv


def requirement_lines(path: Path) -> set[str]:
    """The `name==version ; marker` lines of a lock file, without hashes."""
    return {
        line.rstrip(" \\")
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"[A-Za-z0-9]", line)
    }


def cmd_lock(args: list[str]) -> None:
    uv = ensure_uv()
    common = [str(uv), "pip", "compile", rel(PYPROJECT), "--quiet"]
    common += ["--universal", "--python-version", LOCK_PYTHON, "--generate-hashes"]
    # The header names the command to re-run instead of uv's own command line; index
    # URLs and index annotations are off by default in uv and must stay off.
    common += ["--custom-compile-command", "python3 dev.py lock"]
    env = dict(os.environ, UV_NO_PROGRESS="1")
    # Runtime first; the dev lock is then constrained to the runtime pins, so tests run
    # against exactly the versions that requirements.lock deploys.
    steps = [
        (LOCK_RUNTIME, [*common, "-o", rel(LOCK_RUNTIME), *args]),
        (
            LOCK_DEV,
            [*common, "--extra", "dev", "-c", rel(LOCK_RUNTIME), "-o", rel(LOCK_DEV), *args],
        ),
    ]
    for target, cmd in steps:
        log(f"uv pip compile -> {rel(target)}")
        if run(cmd, env=env) != 0:
            die(f"uv pip compile failed for {rel(target)}")
    for target, _ in steps:
        for number, line in enumerate(target.read_text(encoding="utf-8").splitlines(), 1):
            if URL_PATTERN.search(line):
                die(f"{rel(target)}:{number} names a package index or host: {line.strip()}")
    missing = requirement_lines(LOCK_RUNTIME) - requirement_lines(LOCK_DEV)
    if missing:
        die(f"{rel(LOCK_DEV)} disagrees with {rel(LOCK_RUNTIME)} on: {sorted(missing)}")
    log(f"wrote {rel(LOCK_RUNTIME)} and {rel(LOCK_DEV)}; `python3 dev.py sync` installs them")


COMMANDS = {
    "up": cmd_up,
    "test": cmd_test,
    "sync": cmd_sync,
    "lint": cmd_lint,
    "fmt": cmd_fmt,
    "oms": cmd_oms,
    "lock": cmd_lock,
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        sys.exit(0 if argv else 2)
    name, args = argv[0], argv[1:]
    command = COMMANDS.get(name)
    if command is None:
        die(f"unknown command {name!r}; expected one of: {', '.join(COMMANDS)}", 2)
    command(args)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
