"""scripts/system-deps (make demo / make test): installs only what is missing, and on
Ubuntu, where the chromium package is a snap stub, says what to install instead."""

import os
import shutil
import subprocess

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")


def fake_system(tmp_path, *, installed, chromium_stub, apt_chromium_description):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    calls = tmp_path / "apt-calls"

    def tool(name, body):
        p = bin_ / name
        p.write_text("#!/bin/sh\n" + body)
        p.chmod(0o755)

    tool("dpkg-query", f'for a; do last=$a; done\ncase "$last" in {"|".join(installed) or "none-installed"}) printf "install ok installed";; '
                       '*) exit 1;; esac\n')
    tool("apt-get", f'echo "$@" >> {calls}\n')
    tool("sudo", '"$@"\n')
    tool("apt-cache", f'[ "$1 $2" = "show chromium" ] && echo "Description: {apt_chromium_description}"\nexit 0\n')
    if chromium_stub:
        tool("chromium", "echo 'Command requires the chromium snap to be installed.'\nexec snap run chromium \"$@\"\n")
    for name in ("chromium-browser", "google-chrome", "google-chrome-stable"):  # hide real ones
        tool(name, "echo 'chromium snap stub'\n")
    for name in ("head", "grep", "cat", "id"):  # only these from the system: no real browser on PATH
        (bin_ / name).symlink_to(shutil.which(name))
    env = {k: v for k, v in os.environ.items() if k != "PROCMINE_CHROMIUM"}
    env["PATH"] = str(bin_)
    return env, calls


def run(env, what):
    return subprocess.run([shutil.which("bash"), str(ROOT / "scripts" / "system-deps"), what], env=env, capture_output=True,
                          text=True, timeout=60)


ALL = ["graphviz", "fonts-noto-cjk", "fontconfig", "libreoffice-calc-nogui", "poppler-utils", "postgresql",
       "openjdk-17-jre-headless"]


def test_nothing_missing_means_no_apt(tmp_path):
    env, calls = fake_system(tmp_path, installed=ALL, chromium_stub=False, apt_chromium_description="web browser")
    env["PROCMINE_CHROMIUM"] = "/bin/sh"  # any executable
    r = run(env, "test")
    assert r.returncode == 0 and not calls.exists() and r.stdout == "" and r.stderr == ""


def test_demo_installs_only_what_the_demo_needs(tmp_path):
    env, calls = fake_system(tmp_path, installed=[], chromium_stub=False, apt_chromium_description="web browser")
    assert run(env, "demo").returncode == 0
    installs = [ln for ln in calls.read_text().splitlines() if " install " in f" {ln} "]
    assert len(installs) == 1 and installs[0].split()[-3:] == ["graphviz", "fonts-noto-cjk", "fontconfig"]


def test_test_setup_on_debian_installs_chromium_libreoffice_postgresql_java(tmp_path):
    env, calls = fake_system(tmp_path, installed=["graphviz", "fonts-noto-cjk", "fontconfig"], chromium_stub=False,
                             apt_chromium_description="web browser")
    r = run(env, "test")
    assert r.returncode == 0, r.stderr
    install = [ln for ln in calls.read_text().splitlines() if "install" in ln][0].split()
    assert {"libreoffice-calc-nogui", "postgresql", "chromium", "openjdk-17-jre-headless"} <= set(install)
    assert "graphviz" not in install


def test_ubuntu_snap_stub_gets_advice_not_a_failure(tmp_path):
    env, calls = fake_system(tmp_path, installed=ALL, chromium_stub=True,
                             apt_chromium_description="Transitional package - chromium -> chromium snap")
    r = run(env, "test")
    assert r.returncode == 0, r.stderr
    assert "PROCMINE_CHROMIUM" in r.stderr and "snap" in r.stderr
    assert "chromium" not in " ".join(ln for ln in calls.read_text().splitlines() if "install" in ln)
