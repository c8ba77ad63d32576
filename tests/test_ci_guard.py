"""Tests that need ../shared/data skip on a developer's machine without it, but fail in CI."""

import pytest

from conftest import chromium_binary, require_shared


def test_missing_shared_data_skips_locally_and_fails_in_ci(tmp_path, monkeypatch):
    missing = tmp_path / "shared" / "data" / "receipt.xes.gz"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared/data"):
        require_shared(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing"):
        require_shared(missing)
    missing.parent.mkdir(parents=True)
    missing.write_bytes(b"x")
    assert require_shared(missing) == missing


def test_chromium_from_the_environment_and_snap_stubs_refused(tmp_path, monkeypatch):
    stub = tmp_path / "chromium"
    stub.write_text("#!/bin/sh\necho 'Command requires the chromium snap to be installed.'\nexec /snap/bin/chromium \"$@\"\n")
    stub.chmod(0o755)
    real = tmp_path / "my-chrome"
    real.write_text("#!/bin/sh\nexit 0\n")
    real.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PROCMINE_CHROMIUM", raising=False)
    assert chromium_binary() is None  # only the snap stub on PATH
    monkeypatch.setenv("PROCMINE_CHROMIUM", str(real))
    assert chromium_binary() == str(real)
