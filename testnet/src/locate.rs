//! Finding the workspace binaries the harness runs, and refusing a cargo build older than its sources
//! (a test that passes against yesterday's node proves nothing).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A binary of this workspace: its file name, the package that builds it and the environment
/// variable that may name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    /// File name, e.g. `certnet`.
    pub name: &'static str,
    /// Cargo package that builds it.
    pub package: &'static str,
    /// Environment variable holding an explicit path.
    pub env_var: &'static str,
}

/// The node: `certnet`.
pub const CERTNET: Binary = Binary {
    name: "certnet",
    package: "certnet-node",
    env_var: "CERTNET_BIN",
};

/// This crate's CLI: `certnet-testnet`.
pub const CERTNET_TESTNET: Binary = Binary {
    name: "certnet-testnet",
    package: "certnet-testnet",
    env_var: "CERTNET_TESTNET_BIN",
};

/// Why a binary could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// No file at any place looked at.
    #[error("cannot find the `{name}` binary (looked at {}): build it with `cargo build -p {package}`, or set {env_var} to its path", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// The binary's name.
        name: &'static str,
        /// Its package.
        package: &'static str,
        /// The variable that could name it.
        env_var: &'static str,
        /// Every path tried.
        searched: Vec<PathBuf>,
    },
    /// The path given explicitly is not a file.
    #[error("{} is not a file (given as the `{name}` binary)", .path.display())]
    NotAFile {
        /// The binary's name.
        name: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A cargo-built binary is older than one of the sources it was built from.
    #[error("{} is older than its source {}: rebuild it with `cargo build -p {package}`", .binary.display(), .source_file.display())]
    Stale {
        /// The binary.
        binary: PathBuf,
        /// A source file changed (or removed) since the build.
        source_file: PathBuf,
        /// The package to rebuild.
        package: &'static str,
    },
}

impl Binary {
    /// Finds the binary: `explicit` if given, else the value of [`Binary::env_var`] (read by the
    /// caller: the library reads no environment), else next to `current_exe` — in its directory, and
    /// in the parent when that is `deps/`, where cargo puts test executables (so `target/debug/`).
    ///
    /// A binary with a cargo dep-info file beside it (`certnet.d`) must be newer than every source
    /// that file lists, else [`LocateError::Stale`].
    pub fn locate(
        &self,
        explicit: Option<&Path>,
        from_env: Option<&OsStr>,
        current_exe: Option<&Path>,
    ) -> Result<PathBuf, LocateError> {
        let given = explicit
            .map(Path::to_path_buf)
            .or_else(|| from_env.filter(|v| !v.is_empty()).map(PathBuf::from));
        let found = match given {
            Some(path) => {
                if !path.is_file() {
                    return Err(LocateError::NotAFile {
                        name: self.name,
                        path,
                    });
                }
                path
            }
            None => {
                let searched = self.candidates(current_exe);
                match searched.iter().find(|p| p.is_file()) {
                    Some(found) => found.clone(),
                    None => {
                        return Err(LocateError::NotFound {
                            name: self.name,
                            package: self.package,
                            env_var: self.env_var,
                            searched,
                        });
                    }
                }
            }
        };
        let found = std::path::absolute(&found).unwrap_or(found);
        self.check_fresh(&found)?;
        Ok(found)
    }

    /// Where the binary is looked for next to `current_exe`.
    fn candidates(&self, current_exe: Option<&Path>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(dir) = current_exe.and_then(Path::parent) {
            out.push(dir.join(self.name));
            if dir.file_name() == Some(OsStr::new("deps"))
                && let Some(parent) = dir.parent()
            {
                out.push(parent.join(self.name));
            }
        }
        out
    }

    /// Compares the binary's modification time with the sources in its dep-info file, if any.
    fn check_fresh(&self, binary: &Path) -> Result<(), LocateError> {
        let mut dep_info = binary.as_os_str().to_owned();
        dep_info.push(".d");
        let Ok(text) = std::fs::read_to_string(PathBuf::from(dep_info)) else {
            return Ok(()); // not a cargo build output: nothing to compare with
        };
        let Some(built) = modified(binary) else {
            return Ok(());
        };
        for source in dep_info_sources(&text) {
            let changed = modified(&source).is_none_or(|m| m > built);
            if changed {
                return Err(LocateError::Stale {
                    binary: binary.to_owned(),
                    source_file: source,
                    package: self.package,
                });
            }
        }
        Ok(())
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The prerequisites of the first rule of a Makefile-style dep-info file (`target: a.rs b\ c.rs`).
fn dep_info_sources(text: &str) -> Vec<PathBuf> {
    let Some(line) = text.lines().next() else {
        return Vec::new();
    };
    let Some((_, deps)) = line.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ' ' => {
                if !current.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(PathBuf::from(current));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::fs;
    use std::time::Duration;

    use super::*;

    #[test]
    fn dep_info_is_split_on_unescaped_spaces() {
        let deps = dep_info_sources("/t/certnet: /s/a.rs /s/my\\ file.rs  /s/b.rs\n\n/s/a.rs:\n");
        assert_eq!(
            deps,
            [
                PathBuf::from("/s/a.rs"),
                PathBuf::from("/s/my file.rs"),
                PathBuf::from("/s/b.rs")
            ]
        );
        assert!(dep_info_sources("").is_empty());
    }

    #[test]
    fn found_next_to_a_test_executable_in_deps() {
        let tmp = tempfile::tempdir().unwrap();
        let deps = tmp.path().join("deps");
        fs::create_dir(&deps).unwrap();
        fs::write(tmp.path().join("certnet"), "").unwrap();
        let exe = deps.join("e2e-0123");
        let found = CERTNET.locate(None, None, Some(&exe)).unwrap();
        assert_eq!(found, tmp.path().join("certnet"));

        // An explicit path wins; one that is not a file is an error naming it.
        let err = CERTNET
            .locate(Some(&tmp.path().join("nope")), None, Some(&exe))
            .unwrap_err();
        assert!(matches!(err, LocateError::NotAFile { .. }), "{err}");
        let err = CERTNET_TESTNET.locate(None, None, Some(&exe)).unwrap_err();
        assert!(matches!(err, LocateError::NotFound { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("`cargo build -p certnet-testnet`, or set CERTNET_TESTNET_BIN"),
            "{err}"
        );
    }

    #[test]
    fn a_binary_older_than_a_source_is_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("certnet");
        let src = tmp.path().join("main.rs");
        fs::write(&src, "").unwrap();
        fs::write(&bin, "").unwrap();
        fs::write(
            tmp.path().join("certnet.d"),
            format!("{}: {}\n", bin.display(), src.display()),
        )
        .unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(CERTNET.locate(Some(&bin), None, None).unwrap(), bin);

        let older = SystemTime::now() - Duration::from_secs(120);
        fs::File::options()
            .write(true)
            .open(&bin)
            .unwrap()
            .set_modified(older)
            .unwrap();
        let err = CERTNET.locate(Some(&bin), None, None).unwrap_err();
        assert!(
            matches!(&err, LocateError::Stale { source_file, .. } if *source_file == src),
            "{err}"
        );
    }
}
