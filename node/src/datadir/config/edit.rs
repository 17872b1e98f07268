//! Changing the consumers in config.toml without touching anything else in it: a consumer is added as
//! one `[[taxii.consumers]]` table appended at the end, and removed by cutting exactly its table. The
//! result is parsed and checked before it replaces the file (atomically, mode 0600: the file holds
//! credential hashes).

use std::io;
use std::path::Path;

use super::consumers::consumer_toml;
use super::{ConfigError, NodeConfig, TaxiiConsumer};
use crate::datadir::fsutil;
use crate::datadir::keys::PRIVATE_MODE;

/// Why a consumer could not be added or removed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerEditError {
    /// config.toml could not be read, is invalid, or could not be written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A consumer of that name exists already.
    #[error(
        "config.toml already has a consumer named `{0}`: remove it first (`certnet consumer remove {0}`) or choose another name"
    )]
    Exists(String),
    /// No consumer has that name.
    #[error("config.toml has no consumer named `{0}` (`certnet consumer list` shows them)")]
    Unknown(String),
}

fn read(path: &Path) -> Result<(String, NodeConfig), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let config = NodeConfig::from_toml(path, &text)?;
    Ok((text, config))
}

fn write(path: &Path, text: &str) -> Result<NodeConfig, ConfigError> {
    // The new text must be a valid config before it replaces the old one.
    let config = NodeConfig::from_toml(path, text)?;
    fsutil::write_replace(path, text.as_bytes(), PRIVATE_MODE).map_err(|source| {
        ConfigError::Write {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(config)
}

/// Appends `consumer` to config.toml at `path`.
pub fn add_consumer(
    path: &Path,
    consumer: &TaxiiConsumer,
) -> Result<NodeConfig, ConsumerEditError> {
    let (mut text, config) = read(path)?;
    if config
        .taxii()
        .consumers()
        .iter()
        .any(|c| c.name() == consumer.name())
    {
        return Err(ConsumerEditError::Exists(consumer.name().to_owned()));
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&consumer_toml(consumer));
    Ok(write(path, &text)?)
}

/// Removes the consumer called `name` from config.toml at `path`.
pub fn remove_consumer(path: &Path, name: &str) -> Result<NodeConfig, ConsumerEditError> {
    let (text, config) = read(path)?;
    if !config.taxii().consumers().iter().any(|c| c.name() == name) {
        return Err(ConsumerEditError::Unknown(name.to_owned()));
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Tables: from a header line to the line before the next header.
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut removed = false;
    while i < lines.len() {
        let header = lines[i].trim();
        let end = (i + 1..lines.len())
            .find(|j| lines[*j].trim_start().starts_with('['))
            .unwrap_or(lines.len());
        if header == "[[taxii.consumers]]" && !removed && names(&lines[i..end], name) {
            removed = true;
            i = end;
            continue;
        }
        if header.starts_with('[') {
            out.extend(lines[i..end].iter().copied());
            i = end;
        } else {
            out.push_str(lines[i]);
            i += 1;
        }
    }
    let config = write(path, &out)?;
    if config.taxii().consumers().iter().any(|c| c.name() == name) {
        // The table is written in a way this editor does not follow: leave the file as it was.
        write(path, &text)?;
        return Err(ConsumerEditError::Config(ConfigError::Write {
            path: path.to_owned(),
            source: io::Error::other(format!(
                "the [[taxii.consumers]] table of `{name}` could not be cut out: remove it by hand"
            )),
        }));
    }
    Ok(config)
}

/// Whether a table's lines set `name = "<name>"`.
fn names(table: &[&str], name: &str) -> bool {
    table.iter().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        key.trim() == "name"
            && toml::from_str::<toml::Table>(&format!("v = {}", value.trim()))
                .ok()
                .and_then(|t| t.get("v").and_then(|v| v.as_str().map(str::to_owned)))
                .is_some_and(|v| v.trim() == name)
    })
}

#[cfg(test)]
mod tests {
    use certnet_protocol::record::Tlp;

    use super::*;
    use crate::datadir::config::TaxiiCredential;

    #[test]
    fn consumers_are_added_and_removed_leaving_the_rest_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original = "# my own comment\nname = \"CERT-A\"\n\n[store]\ncache_capacity_mib = 32\n";
        std::fs::write(&path, original).unwrap();
        let siem = TaxiiConsumer::new(
            "siem \"x\"",
            vec![Tlp::Clear, Tlp::Green],
            false,
            TaxiiCredential::Bearer {
                token_sha256: [7; 32],
            },
        );
        let other = TaxiiConsumer::new(
            "other",
            vec![Tlp::Clear],
            false,
            TaxiiCredential::Bearer {
                token_sha256: [8; 32],
            },
        );
        add_consumer(&path, &siem).unwrap();
        let config = add_consumer(&path, &other).unwrap();
        assert_eq!(config.taxii().consumers().len(), 2);
        assert!(matches!(
            add_consumer(&path, &other),
            Err(ConsumerEditError::Exists(_))
        ));
        let config = remove_consumer(&path, "siem \"x\"").unwrap();
        assert_eq!(config.taxii().consumers(), std::slice::from_ref(&other));
        let config = remove_consumer(&path, "other").unwrap();
        assert!(config.taxii().consumers().is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(matches!(
            remove_consumer(&path, "other"),
            Err(ConsumerEditError::Unknown(_))
        ));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
